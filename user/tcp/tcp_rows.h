// Every row the tcp family stores, declared once: the sampler writes these structs and the
// section builder reads the same ones back (core/delta_table.h), so a renamed field fails to
// compile instead of reading 0.
//
//   aggregates (family "tcp")     kind   row
//   counters                      delta  CounterRow            totals of the BPF side and the sampler
//   transitions                   delta  TransitionRow         state changes by (from, to)
//   ports                         delta  PortRow               per service port and role
//   flows                         delta  FlowRow               retransmitting flows
//   listener_counts               delta  ListenerCountRow      a listener's overflows, SYN drops, cookies
//   netstat                       delta  NetnsRow              a namespace's kernel counters, and what no
//                                                              listener could be shown to own
//   listeners                     gauge  ListenersGauge        every listener's accept queue and owner
//   close_wait                    gauge  CloseWaitGauge        sockets in CLOSE_WAIT for a second or more
//   time_wait                     gauge  TimeWaitGauge         the last TIME_WAIT listing by side and port
//   servers                       gauge  ServersGauge          listeners under pressure, every sample
// Gauges are written when they change (and at the window's end), so a level holds until the next
// row: the state at any time is the last row at or before it (RecordingReader::gauge_at).
// Series "sockets" (one row per sample: the sample times) and "rates" (RateRow); hist rows
// connect_us, lifetime_us, rto_ms, srtt_us; meta "tcp.config" (TcpConfig).
#pragma once

#include <cstdint>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/delta_table.h"

namespace triage::tcp {

// Constants of the run: how the family is hooked, written to meta once they are known.
struct TcpConfig {
  std::string method;  // tp_btf | raw_tp | "" (no program loaded)
  unsigned hz = 0;
  bool state_attached = false, retransmit_attached = false, snapshots = false;
  double connection_walk_cpu_share = 0;
  double connection_walk_pressure_cpu_share = 0;  // 0 in recordings older than the pressure budget
  std::string connection_walk_request;  // "both families" | "per family"
  bool operator==(const TcpConfig &) const = default;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(TcpConfig, method, hz, state_attached, retransmit_attached, snapshots,
                                                connection_walk_cpu_share, connection_walk_pressure_cpu_share,
                                                connection_walk_request)

// One row of the "rates" series: what the BPF side counted in the interval (dt_s long).
struct RateRow {
  double dt_s = 0;
  uint64_t transitions = 0, retrans_segs = 0, syn_retrans = 0, resets_sent = 0, resets_received = 0;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(RateRow, dt_s, transitions, retrans_segs, syn_retrans, resets_sent,
                                                resets_received)

// Rows written every interval whose fields are mostly 0 are stored without their zeros (reading
// takes a missing field as 0); the field list itself is still declared once, by the macro below.
inline void drop_zeros(nlohmann::json &j) {
  for (auto it = j.begin(); it != j.end();)
    it = it->is_number() && *it == 0 ? j.erase(it) : std::next(it);
}

struct CounterFields {
  uint64_t transitions = 0, retrans_events = 0, retrans_segs = 0, retrans_failed_segs = 0, syn_retrans = 0,
           synack_retrans = 0, listen_overflow_drops = 0, resets_sent = 0, resets_received = 0;
  uint64_t events_produced = 0, events_lost = 0, events_delivered = 0;
  uint64_t sock_map_full = 0, port_map_full = 0, flow_map_full = 0, recursion_misses = 0, counter_resets = 0;
  uint64_t connection_walks = 0, connection_walk_cpu_ns = 0;
  uint64_t connection_walk_longest_gap_ns = 0;  // a peak
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(CounterFields, transitions, retrans_events, retrans_segs,
                                                retrans_failed_segs, syn_retrans, synack_retrans,
                                                listen_overflow_drops, resets_sent, resets_received, events_produced,
                                                events_lost, events_delivered, sock_map_full, port_map_full,
                                                flow_map_full, recursion_misses, counter_resets, connection_walks,
                                                connection_walk_cpu_ns, connection_walk_longest_gap_ns)

// The family's counters: a one-row table.
struct CounterRow : CounterFields, SingleKey {
  uint64_t rank() const { return 0; }
  static constexpr auto counters() {
    using F = CounterFields;
    return std::tuple{&F::transitions,         &F::retrans_events,   &F::retrans_segs,     &F::retrans_failed_segs,
                      &F::syn_retrans,         &F::synack_retrans,   &F::listen_overflow_drops, &F::resets_sent,
                      &F::resets_received,     &F::events_produced,  &F::events_lost,      &F::events_delivered,
                      &F::sock_map_full,       &F::port_map_full,    &F::flow_map_full,    &F::recursion_misses,
                      &F::counter_resets,      &F::connection_walks, &F::connection_walk_cpu_ns};
  }
  static constexpr auto peaks() { return std::tuple{&CounterFields::connection_walk_longest_gap_ns}; }
  static constexpr auto histograms() { return std::tuple{}; }
};
inline void to_json(nlohmann::json &j, const CounterRow &row) {
  to_json(j, static_cast<const CounterFields &>(row));
  drop_zeros(j);
}
inline void from_json(const nlohmann::json &j, CounterRow &row) { from_json(j, static_cast<CounterFields &>(row)); }

struct TransitionRow {
  std::string from, to;  // as the kernel spells the states (TCP_ESTABLISHED)
  uint64_t count = 0;
  auto key() const { return std::pair{from, to}; }
  uint64_t rank() const { return count; }
  static constexpr auto counters() { return std::tuple{&TransitionRow::count}; }
  static constexpr auto peaks() { return std::tuple{}; }
  static constexpr auto histograms() { return std::tuple{}; }
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(TransitionRow, from, to, count)

// Per service port and role: a server's local port, a client's remote port.
struct PortRow {
  uint32_t netns = 0;
  uint16_t port = 0;
  std::string role;
  uint64_t opens = 0, established = 0, active_closes = 0, passive_closes = 0, aborts = 0, connect_failures = 0;
  uint64_t connect_ns_sum = 0, closed = 0, lifetime_ns_sum = 0, close_wait_entered = 0, close_wait_left = 0;
  uint64_t connect_ns_max = 0;  // a peak
  auto key() const { return std::tuple{netns, port, role}; }
  uint64_t rank() const { return opens + closed + aborts + connect_failures + close_wait_entered; }
  static constexpr auto counters() {
    return std::tuple{&PortRow::opens,          &PortRow::established,      &PortRow::active_closes,
                      &PortRow::passive_closes, &PortRow::aborts,           &PortRow::connect_failures,
                      &PortRow::connect_ns_sum, &PortRow::closed,           &PortRow::lifetime_ns_sum,
                      &PortRow::close_wait_entered, &PortRow::close_wait_left};
  }
  static constexpr auto peaks() { return std::tuple{&PortRow::connect_ns_max}; }
  static constexpr auto histograms() { return std::tuple{}; }
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(PortRow, netns, port, role, opens, established, active_closes,
                                                passive_closes, aborts, connect_failures, connect_ns_sum, closed,
                                                lifetime_ns_sum, close_wait_entered, close_wait_left, connect_ns_max)

// A flow that retransmitted. state, srtt_us, first_ns and last_ns are labels: the latest interval's.
struct FlowRow {
  uint32_t netns = 0;
  std::string saddr;
  uint16_t sport = 0;
  std::string daddr;
  uint16_t dport = 0;
  uint64_t count = 0, syn_count = 0;        // segments, of which SYN or SYN-ACK
  uint64_t max_backoff = 0, max_rto_ms = 0;  // peaks
  std::string state;
  uint64_t srtt_us = 0, first_ns = 0, last_ns = 0;
  auto key() const { return std::tuple{netns, saddr, sport, daddr, dport}; }
  uint64_t rank() const { return count; }
  static constexpr auto counters() { return std::tuple{&FlowRow::count, &FlowRow::syn_count}; }
  static constexpr auto peaks() { return std::tuple{&FlowRow::max_backoff, &FlowRow::max_rto_ms}; }
  static constexpr auto histograms() { return std::tuple{}; }
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(FlowRow, netns, saddr, sport, daddr, dport, count, syn_count,
                                                max_backoff, max_rto_ms, state, srtt_us, first_ns, last_ns)

// What a listener was given of its namespace's counters, interval by interval (the sampler's
// attribution, tcp_model.h): summed over listeners plus NetnsRow's unattributed_* it equals the
// namespace's own counter exactly.
struct ListenerCountRow {
  uint32_t netns = 0;
  std::string addr;
  uint16_t port = 0;
  uint64_t overflows = 0, syn_drops = 0, syncookies = 0, overflow_drops_seen = 0;
  auto key() const { return std::tuple{netns, addr, port}; }
  uint64_t rank() const { return overflows + syn_drops + syncookies + overflow_drops_seen; }
  static constexpr auto counters() {
    return std::tuple{&ListenerCountRow::overflows, &ListenerCountRow::syn_drops, &ListenerCountRow::syncookies,
                      &ListenerCountRow::overflow_drops_seen};
  }
  static constexpr auto peaks() { return std::tuple{}; }
  static constexpr auto histograms() { return std::tuple{}; }
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(ListenerCountRow, netns, addr, port, overflows, syn_drops, syncookies,
                                                overflow_drops_seen)

// One network namespace's own counters (/proc/net/netstat and snmp, read inside it), and the part
// of ListenOverflows / TCPReqQFullDrop / SyncookiesSent no single listener could be shown to own.
struct NetnsFields {
  uint32_t netns = 0;
  std::string name;  // its /run/netns name, if any
  uint32_t pid = 0;  // a process in it
  uint64_t ListenOverflows = 0, ListenDrops = 0, TCPReqQFullDrop = 0, TCPReqQFullDoCookies = 0, SyncookiesSent = 0,
           SyncookiesRecv = 0, SyncookiesFailed = 0, TCPSynRetrans = 0, TCPRetransFail = 0, TcpRetransSegs = 0,
           TCPTimeouts = 0, TcpActiveOpens = 0, TcpPassiveOpens = 0, TcpAttemptFails = 0, TcpEstabResets = 0,
           TCPAbortOnData = 0, TcpOutSegs = 0;
  uint64_t unattributed_overflows = 0;
  uint64_t overflows_several_full = 0;  // of those: several listeners were full at one sample
  uint64_t overflows_no_listener = 0;   // of those: no listener of the namespace was seen at all
  uint64_t unattributed_syn_drops = 0, unattributed_syncookies = 0;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(NetnsFields, netns, name, pid, ListenOverflows, ListenDrops,
                                                TCPReqQFullDrop, TCPReqQFullDoCookies, SyncookiesSent, SyncookiesRecv,
                                                SyncookiesFailed, TCPSynRetrans, TCPRetransFail, TcpRetransSegs,
                                                TCPTimeouts, TcpActiveOpens, TcpPassiveOpens, TcpAttemptFails,
                                                TcpEstabResets, TCPAbortOnData, TcpOutSegs, unattributed_overflows,
                                                overflows_several_full, overflows_no_listener, unattributed_syn_drops,
                                                unattributed_syncookies)


struct NetnsRow : NetnsFields {
  auto key() const { return netns; }
  uint64_t rank() const { return TcpOutSegs + ListenOverflows + TcpRetransSegs; }
  static constexpr auto labels() { return std::tuple{&NetnsFields::name, &NetnsFields::pid}; }
  static constexpr auto counters() {
    return std::tuple{&NetnsFields::ListenOverflows,        &NetnsFields::ListenDrops,           &NetnsFields::TCPReqQFullDrop,
                      &NetnsFields::TCPReqQFullDoCookies,   &NetnsFields::SyncookiesSent,        &NetnsFields::SyncookiesRecv,
                      &NetnsFields::SyncookiesFailed,       &NetnsFields::TCPSynRetrans,         &NetnsFields::TCPRetransFail,
                      &NetnsFields::TcpRetransSegs,         &NetnsFields::TCPTimeouts,           &NetnsFields::TcpActiveOpens,
                      &NetnsFields::TcpPassiveOpens,        &NetnsFields::TcpAttemptFails,       &NetnsFields::TcpEstabResets,
                      &NetnsFields::TCPAbortOnData,         &NetnsFields::TcpOutSegs,            &NetnsFields::unattributed_overflows,
                      &NetnsFields::overflows_several_full, &NetnsFields::overflows_no_listener, &NetnsFields::unattributed_syn_drops,
                      &NetnsFields::unattributed_syncookies};
  }
  static constexpr auto peaks() { return std::tuple{}; }
  static constexpr auto histograms() { return std::tuple{}; }
};
inline void to_json(nlohmann::json &j, const NetnsRow &row) {
  to_json(j, static_cast<const NetnsFields &>(row));
  drop_zeros(j);
}
inline void from_json(const nlohmann::json &j, NetnsRow &row) { from_json(j, static_cast<NetnsFields &>(row)); }

// The kernel counters a NetnsRow holds, by the names /proc/net/netstat and snmp give them (Tcp
// ones with the "Tcp" prefix, as nstat prints them): the sampler fills the row from them, the
// section names them back.
struct NetstatField {
  const char *name;
  uint64_t NetnsFields::*member;
};
inline constexpr NetstatField kNetstatFields[] = {
    {"ListenOverflows", &NetnsFields::ListenOverflows},   {"ListenDrops", &NetnsFields::ListenDrops},
    {"TCPReqQFullDrop", &NetnsFields::TCPReqQFullDrop},   {"TCPReqQFullDoCookies", &NetnsFields::TCPReqQFullDoCookies},
    {"SyncookiesSent", &NetnsFields::SyncookiesSent},     {"SyncookiesRecv", &NetnsFields::SyncookiesRecv},
    {"SyncookiesFailed", &NetnsFields::SyncookiesFailed}, {"TCPSynRetrans", &NetnsFields::TCPSynRetrans},
    {"TCPRetransFail", &NetnsFields::TCPRetransFail},     {"TcpRetransSegs", &NetnsFields::TcpRetransSegs},
    {"TCPTimeouts", &NetnsFields::TCPTimeouts},           {"TcpActiveOpens", &NetnsFields::TcpActiveOpens},
    {"TcpPassiveOpens", &NetnsFields::TcpPassiveOpens},   {"TcpAttemptFails", &NetnsFields::TcpAttemptFails},
    {"TcpEstabResets", &NetnsFields::TcpEstabResets},     {"TCPAbortOnData", &NetnsFields::TCPAbortOnData},
    {"TcpOutSegs", &NetnsFields::TcpOutSegs}};

// One listening socket (a reuseport group of one address and port is one) at a sample.
struct ListenerLevel {
  uint32_t netns = 0;
  std::string netns_name;
  std::string addr;
  uint16_t port = 0;
  uint32_t backlog = 0;      // accept queue now (summed over a reuseport group)
  uint32_t backlog_max = 0;  // its limit
  uint32_t syn_recv = 0;     // request sockets at the last connection walk
  bool full = false;         // the queue at its limit now
  uint32_t pid = 0;          // owner (0: unknown)
  std::string comm;
  // Distinct remote addresses of those request sockets: a SYN flood comes from many, a client
  // whose handshakes a full accept queue holds back from the few it has.
  uint32_t syn_recv_sources = 0;
  auto key() const { return std::tuple{netns, addr, port}; }
  bool operator==(const ListenerLevel &) const = default;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(ListenerLevel, netns, netns_name, addr, port, backlog, backlog_max,
                                                syn_recv, full, pid, comm, syn_recv_sources)

// A listener under pressure at one sample, and whether its owner made progress since the last
// one: the "servers" rows (gauge rows, but written at every sample while some listener has
// connections queued or unread, and one empty row when that ends), read per sample by the
// server-saturated and server-stall findings (report/incidents.cpp).
struct ServerLevel {
  uint32_t netns = 0;
  std::string addr;
  uint16_t port = 0;
  std::vector<uint32_t> pids;  // every process holding the listener (master and workers)
  std::string comm;
  uint32_t backlog = 0, backlog_max = 0;
  bool full = false;
  uint64_t overflows = 0;  // accept-queue overflows attributed to it since the last sample
  // From the ESTABLISHED/CLOSE_WAIT sockets on its port, when this sample and the one before it
  // both listed them (`compared`): accepted sockets new since then, accepted sockets holding
  // unread bytes now, those of them unread since then (no byte read), those read from since.
  bool compared = false;
  uint32_t accepted_new = 0, unread_sockets = 0, unread_stuck = 0, read_progress = 0;
  uint64_t unread_bytes = 0;
  bool operator==(const ServerLevel &) const = default;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(ServerLevel, netns, addr, port, pids, comm, backlog, backlog_max, full,
                                                overflows, compared, accepted_new, unread_sockets, unread_stuck,
                                                read_progress, unread_bytes)

struct ServersGauge {
  std::vector<ServerLevel> servers;
  bool operator==(const ServersGauge &) const = default;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(ServersGauge, servers)

struct ListenersGauge {
  std::vector<ListenerLevel> listeners;
  bool operator==(const ListenersGauge &) const = default;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(ListenersGauge, listeners)

// A socket in CLOSE_WAIT at a connection walk, with its owner while the owner was alive.
struct CloseWaitSocket {
  uint32_t netns = 0;
  std::string laddr;
  uint16_t lport = 0;
  std::string raddr;
  uint16_t rport = 0;
  uint64_t entered_ns = 0;  // monotonic: when the peer's FIN came (exact) or first seen (not)
  bool exact = false;       // entered_ns from the kernel's stamp; false: a lower bound on the age
  uint32_t rqueue = 0;      // bytes unread
  uint32_t pid = 0;         // owner (0: none found)
  std::string comm;
  auto key() const { return std::tuple{netns, laddr, lport, raddr, rport}; }
  bool operator==(const CloseWaitSocket &) const = default;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(CloseWaitSocket, netns, laddr, lport, raddr, rport, entered_ns, exact,
                                                rqueue, pid, comm)

struct CloseWaitGauge {
  std::vector<CloseWaitSocket> sockets;  // oldest first, at most kCloseWaitKept
  uint64_t total = 0;                    // how many were listed before the cut
  bool operator==(const CloseWaitGauge &) const = default;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(CloseWaitGauge, sockets, total)

struct TimeWaitPort {
  uint32_t netns = 0;
  std::string side;  // server | client
  uint16_t port = 0;
  uint64_t count = 0;
  bool operator==(const TimeWaitPort &) const = default;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(TimeWaitPort, netns, side, port, count)

// The last listing of TIME_WAIT sockets one by one (their count between listings is in the
// sockets series, from sockstat).
struct TimeWaitGauge {
  uint64_t count = 0, server = 0, client = 0;
  std::vector<TimeWaitPort> by_port;  // most first
  bool operator==(const TimeWaitGauge &) const = default;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(TimeWaitGauge, count, server, client, by_port)

// CLOSE_WAIT sockets younger than this are closes in progress, not listed (under churn thousands
// pass through in microseconds); older ones are traced to their process (a scan of /proc/*/fd).
inline constexpr uint64_t kCloseWaitListedAfterNs = 1'000'000'000;
inline constexpr size_t kCloseWaitKept = 500;

}  // namespace triage::tcp

// Pure pieces of the tcp family, kept apart from libbpf so unit tests feed them synthetic data:
// state names, the attribution of a namespace's counters to its listeners, and the TIME_WAIT
// summary of one socket snapshot.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/counter_delta.h"
#include "tcp/tcp_abi.h"
#include "tcp/tcp_netns.h"
#include "tcp/tcp_rows.h"

namespace triage::tcp {

// "TCP_ESTABLISHED", ... as include/net/tcp_states.h spells them; "TCP_NEW_SYN_RECV" for 12.
std::string state_name(int state);
const char *role_name(int role);  // enum tcp_role: "unknown", "server", "client", "listener"

// What one listener showed during one interval, for attributing its namespace's counters.
struct ListenerSignal {
  bool queue_full = false;      // accept queue at its limit in this or the previous snapshot
  bool ever_full = false;       // at its limit in some snapshot of the window so far
  uint64_t overflow_drops = 0;  // kfree_skb TCP_LISTEN_OVERFLOW drops seen in the interval (by port)
  uint32_t syn_recv = 0;        // request sockets at the snapshot
};

struct Attribution {
  std::vector<uint64_t> shares;  // per listener, in the order of the signals
  uint64_t unattributed = 0;     // what no single listener could be shown to own
  bool several_full = false;     // why: several listeners were full at the same sample
  bool no_listener = false;      // why: no listener of the namespace was seen at all (one that lived
                                 // less than a sample, between two reads of the namespace)
};

// Splits a namespace-wide delta among the listeners that were there during the interval: all of
// it goes to one listener, or none does. The evidence narrows the candidates in order of strength,
// each step only if it leaves someone: the overflow drops kfree_skb saw (keyed by port, so an IPv4
// and an IPv6 listener of one port share them), a queue full at this or the previous sample, a
// queue seen full at all in the window; the namespace's only listener is the last resort. Several
// candidates left: the kernel's counter cannot be split honestly and the caller reports it per
// namespace, saying whether several listeners were full at the same sample.
Attribution attribute_overflows(uint64_t delta, const std::vector<ListenerSignal> &signals);
// The same for SYN-queue counters (TCPReqQFullDrop, SyncookiesSent): request sockets or a full
// accept queue name the listener.
Attribution attribute_syn_queue(uint64_t delta, const std::vector<ListenerSignal> &signals);

// One namespace's kernel counters (ListenOverflows, TcpRetransSegs, ...) across its snapshots.
struct NetnsCounters {
  std::map<std::string, uint64_t> last;    // at the last snapshot that had each
  std::map<std::string, uint64_t> window;  // the sum of the interval deltas so far
  // Takes one snapshot's counters and returns the nonzero deltas since the last: a counter that
  // went down (the namespace gone and its inode reused) counts 0 and a reset in `deltas`; one the
  // snapshot lacks keeps its last value, or the next delta would be its whole history. The first
  // snapshot of a namespace (empty `last`) counts from 0: it was born inside the window.
  std::map<std::string, uint64_t> advance(const std::map<std::string, uint64_t> &now, CounterDeltas &deltas);
};

// TIME_WAIT sockets of one snapshot by side and service port, most first. A TIME_WAIT socket sits
// on the side that closed first; its local port being one the namespace listens on says that side
// is the server.
TimeWaitGauge time_wait_summary(const std::vector<NetnsSnapshot> &namespaces);
// "server", "client", "both" (each side at least a quarter), "mostly server", "mostly client", "none".
std::string active_closer(uint64_t server, uint64_t client);

// Port aggregate slots for a machine with `cpus` possible CPUs: each slot is one tcp_port_stats per
// CPU, allocated at load, so the count shrinks as CPUs grow (a 16 MiB budget keeps all
// TCP_PORT_SLOTS_MAX up to 21 CPUs and still gives a 256-CPU machine 682 ports).
uint32_t port_slots_for(int cpus);
// Adds one slot's per-CPU copies into `total`: counters add up, connect_ns_max is the largest.
void add_port_copies(tcp_port_stats &total, const std::vector<tcp_port_stats> &per_cpu);

// When to walk the established hash again. A walk runs through every socket and bucket of the
// machine, so its cost grows with the load it is there to observe (~1.5 ms idle here, ~10 ms under
// loopback churn with its TIME_WAIT listing). Each walk waits cost / cpu_share after the one
// before, so walks stay within cpu_share of one CPU, but never longer than longest_gap_ns.
// While a listener is under pressure the walks are what tell a stalled server from a busy one
// (nothing accepted or read between two of them), so they may run as often as cost /
// pressure_cpu_share allows: a slow host (or triage's sanitized build) that thins the idle walks
// to one every few seconds still brackets a stall with walks a sample apart.
class WalkSchedule {
 public:
  WalkSchedule(double cpu_share, double pressure_cpu_share, uint64_t longest_gap_ns)
      : cpu_share_(cpu_share), pressure_cpu_share_(pressure_cpu_share), longest_gap_ns_(longest_gap_ns) {}
  bool due(uint64_t now_ns, bool under_pressure = false) const {
    return now_ns >= next_ns_ || (under_pressure && now_ns >= next_under_pressure_ns_);
  }
  void walked(uint64_t now_ns, uint64_t cpu_ns);
  uint64_t walks() const { return walks_; }
  uint64_t cpu_ns() const { return cpu_ns_; }
  uint64_t longest_gap_seen_ns() const { return longest_gap_seen_ns_; }  // between two walks
  uint64_t next_ns() const { return next_ns_; }

 private:
  double cpu_share_, pressure_cpu_share_;
  uint64_t longest_gap_ns_;
  uint64_t walks_ = 0, cpu_ns_ = 0, last_ns_ = 0, next_ns_ = 0, next_under_pressure_ns_ = 0, longest_gap_seen_ns_ = 0;
};

}  // namespace triage::tcp

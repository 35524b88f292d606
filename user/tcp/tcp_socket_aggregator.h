// The tcp family's socket rows from namespace snapshots, with nothing read here: no syscall, no
// /proc, no clock. Each interval it takes every namespace's snapshot (tcp_netns.h) and the time,
// attributes each namespace's ListenOverflows and SYN-queue counters to its listeners, ages the
// CLOSE_WAIT sockets across walks, counts TIME_WAIT by side and port, and says what the next
// snapshot should read (the walk schedule). tcp_sockets.cpp reads the namespaces and feeds it;
// unit tests feed it synthetic snapshots.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <unordered_map>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/counter_delta.h"
#include "tcp/tcp_model.h"
#include "tcp/tcp_netns.h"
#include "tcp/tcp_rows.h"

namespace triage::tcp {

// The connection walk's budget (see WalkSchedule): under loopback churn, walking every interval
// was most of triage's own CPU. Listeners, their accept queues and the counters are read every
// interval whatever it costs.
inline constexpr double kWalkCpuShare = 0.005;
// While a listener has connections queued or unread, up to 2 % of one CPU: enough for a walk every
// sample on this kind of host even in triage's sanitized build (~20 ms a walk).
inline constexpr double kWalkPressureCpuShare = 0.02;
inline constexpr uint64_t kWalkGapMaxNs = 10'000'000'000;
// Few TIME_WAIT sockets: listed at every walk. Many (a TIME_WAIT storm, where listing 100k of
// them cost ~17 ms of kernel time and held the hash's bucket locks against the very connections
// being made): every kTimeWaitListPeriodNs and at the window's end, the count in between from
// sockstat.
inline constexpr uint64_t kTimeWaitListAlways = 1000;
inline constexpr uint64_t kTimeWaitListPeriodNs = 5'000'000'000;
// ESTABLISHED sockets are listed at a walk (to see whether a listener's owner accepts and reads)
// while few sockets exist, so that a stall is seen from its start, and while some listener is
// under pressure whatever their number.
inline constexpr uint64_t kEstablishedListAlways = 2000;

// kfree_skb's TCP_LISTEN_OVERFLOW drops since attach, by (netns, port).
using ListenDrops = std::map<std::pair<uint32_t, uint16_t>, uint64_t>;

// Which process holds each socket inode open (find_socket_owners in the sampler). Asked only for
// inodes it was never asked about, and only for listeners and the CLOSE_WAIT sockets kept. The
// sampler's names every holder (SocketOwner::pids): a listener's owner is all of its processes.
using OwnerLookup = std::function<std::unordered_map<uint64_t, SocketOwner>(const std::vector<uint64_t> &inodes)>;

// One interval's snapshots, as read.
struct SocketInterval {
  uint64_t now_ns = 0;          // when the interval ended (the namespaces were read just after)
  double dt_s = 0;              // its length
  bool full_interval = false;   // long enough for a row of the "sockets" series
  bool last = false;            // the window's end: every gauge is written whatever changed
  SnapshotScope scope;          // what was read: SocketAggregator::scope() for this now_ns
  uint64_t walk_cpu_ns = 0;     // what reading them cost (counts toward the walk budget when walked)
  std::vector<NetnsSnapshot> namespaces;
};

// One row of the "sockets" series. close_wait and syn_recv are known only at a walk: between
// walks they are left out, not 0.
struct SocketsRow {
  double dt_s = 0;
  uint64_t time_wait = 0, accept_backlog = 0;
  std::optional<uint64_t> close_wait, syn_recv;
  bool operator==(const SocketsRow &) const = default;
};
void to_json(nlohmann::json &j, const SocketsRow &row);

// What one interval produced, in the order it is written.
struct SocketRows {
  std::vector<NetnsRow> netstat;                  // every namespace seen, totals since attach
  std::vector<ListenerCountRow> listener_counts;  // every listener seen, totals since attach
  // Gauges only when they are to be written: changed since the last written, or the window's end.
  std::optional<ListenersGauge> listeners;
  std::optional<CloseWaitGauge> close_wait;
  std::optional<TimeWaitGauge> time_wait;
  std::optional<SocketsRow> sockets;  // full intervals only
  std::optional<ServersGauge> servers;  // while some listener is under pressure, and once after
};

class SocketAggregator {
 public:
  SocketAggregator(uint64_t window_start_ns, OwnerLookup owners)
      : window_start_ns_(window_start_ns), lookup_owners_(std::move(owners)) {}

  // The window's first reading of every namespace (ours first), taken at now_ns as a full walk:
  // the counters' baseline. False (with the first error) when our own namespace could not be read.
  bool attach(const std::vector<NetnsSnapshot> &namespaces, uint64_t now_ns, uint64_t walk_cpu_ns,
              std::string &error);
  // What the snapshot ending an interval at now_ns should read: the connection walk when it is due
  // (always at the window's end), and the TIME_WAIT sockets one by one when they are few or due.
  SnapshotScope scope(uint64_t now_ns, bool last) const;
  // One interval. Drops and counter resets come from the BPF side's counting, shared with it.
  SocketRows sample(const SocketInterval &interval, const ListenDrops &drops, CounterDeltas &deltas);

  const WalkSchedule &walks() const { return walks_; }
  bool one_request() const { return one_request_; }

 private:
  struct ListenerAgg {
    ListenerCountRow counts;  // totals since attach
    bool was_full = false;    // at the previous snapshot
    bool present = false;     // at the namespace's last snapshot: a candidate for its next delta
    bool ever_full = false;
    uint64_t drops_seen_last = 0;
    uint32_t syn_recv = 0;
    uint32_t syn_recv_sources = 0;
    uint64_t overflows_at_last_sample = 0;
    // Its accepted sockets' unread bytes by inode at the last sample that listed them, and
    // whether the sample just before this one did (then this one is compared with it).
    std::unordered_map<uint64_t, uint32_t> accepted_unread;
    bool accepted_listed = false;
  };
  struct NetnsAgg {
    NetnsRow row;             // the counters' totals since attach, and the unattributed parts
    NetnsCounters counters;   // the last raw reading, for the next delta
  };
  using ListenerKey = std::tuple<uint32_t, std::string, uint16_t>;
  using FlowTuple = std::tuple<uint32_t, std::string, uint16_t, std::string, uint16_t>;
  using CloseWaitList = std::vector<std::pair<FlowTuple, const DiagSocket *>>;

  void resolve_owners(const std::vector<uint64_t> &inodes);
  // One namespace's counters and listeners; appends its listeners' levels, SYN_RECV and CLOSE_WAIT.
  void aggregate_netns(const NetnsSnapshot &ns, const ListenDrops &drops, CounterDeltas &deltas,
                       ListenersGauge &levels, uint64_t &syn_recv_total, CloseWaitList &close_wait,
                       ServersGauge &servers);
  CloseWaitGauge close_wait_gauge(uint64_t now_ns, const CloseWaitList &sockets);

  uint64_t window_start_ns_;
  OwnerLookup lookup_owners_;
  uint64_t first_sample_ns_ = 0;
  WalkSchedule walks_{kWalkCpuShare, kWalkPressureCpuShare, kWalkGapMaxNs};
  bool one_request_ = false;  // the kernel answered the one request for both families
  std::map<ListenerKey, ListenerAgg> listeners_;
  std::map<uint32_t, NetnsAgg> netns_;
  std::unordered_map<uint64_t, SocketOwner> owners_;
  std::map<FlowTuple, std::pair<uint64_t, bool>> close_wait_entered_;  // when it entered, exactly or not
  bool established_walk_ = false;     // this sample's walk asked for ESTABLISHED sockets
  uint64_t in_use_seen_ = UINT64_MAX;  // TCP sockets in use at the last snapshot (all namespaces)
  bool pressure_ = false;             // a listener had connections queued or unread at the last sample
  bool servers_written_nonempty_ = false;
  uint64_t time_wait_seen_ = 0;       // TIME_WAIT sockets at the last snapshot
  uint64_t time_wait_listed_ns_ = 0;  // when they were last listed one by one
  // The last gauge rows written: a gauge is written again only when it changed.
  std::optional<ListenersGauge> listeners_written_;
  std::optional<CloseWaitGauge> close_wait_written_;
  std::optional<TimeWaitGauge> time_wait_written_;
};

}  // namespace triage::tcp

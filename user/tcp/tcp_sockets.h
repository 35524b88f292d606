// The tcp family's socket side, which needs no BPF: every interval it reads each network
// namespace (listeners and their accept queues, the kernel's TCP counters; SYN_RECV, CLOSE_WAIT
// and TIME_WAIT sockets when the connection walk is due), attributes each namespace's
// ListenOverflows and SYN-queue counters to its listeners, and writes the rows of tcp_rows.h.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/counter_delta.h"
#include "core/delta_table.h"
#include "core/histogram.h"
#include "record/recording.h"
#include "tcp/tcp_model.h"
#include "tcp/tcp_netns.h"
#include "tcp/tcp_rows.h"

namespace triage::tcp {

// The connection walk's budget (see WalkSchedule): under loopback churn, walking every interval
// was most of triage's own CPU. Listeners, their accept queues and the counters are read every
// interval whatever it costs.
inline constexpr double kWalkCpuShare = 0.005;
inline constexpr uint64_t kWalkGapMaxNs = 10'000'000'000;

// kfree_skb's TCP_LISTEN_OVERFLOW drops since attach, by (netns, port).
using ListenDrops = std::map<std::pair<uint32_t, uint16_t>, uint64_t>;

class SocketSampler {
 public:
  explicit SocketSampler(uint64_t window_start_ns) : window_start_ns_(window_start_ns) {}

  // Reads every namespace once, as the counters' baseline. False (with the first error) when
  // triage's own namespace cannot be read: then there are no snapshots.
  bool attach(std::string &error);
  // One interval, ending at now_ns (`last`: the window's end, where everything is walked).
  void sample(uint64_t now_ns, double dt_s, bool full_interval, bool last, const ListenDrops &drops,
              CounterDeltas &deltas, RecordingWriter &out);

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
  };
  struct NetnsAgg {
    NetnsRow row;             // the counters' totals since attach, and the unattributed parts
    NetnsCounters counters;   // the last raw reading, for the next delta
  };
  using ListenerKey = std::tuple<uint32_t, std::string, uint16_t>;
  using FlowTuple = std::tuple<uint32_t, std::string, uint16_t, std::string, uint16_t>;

  void resolve_owners(const std::vector<uint64_t> &inodes);
  void write_close_wait(uint64_t now_ns, bool last, const std::vector<std::pair<FlowTuple, const DiagSocket *>> &sockets,
                        RecordingWriter &out);

  uint64_t window_start_ns_;
  uint64_t first_sample_ns_ = 0;
  NamespaceFinder namespace_finder_;
  WalkSchedule walks_{kWalkCpuShare, kWalkGapMaxNs};
  bool one_request_ = false;  // the kernel answered the one request for both families
  std::map<ListenerKey, ListenerAgg> listeners_;
  std::map<uint32_t, NetnsAgg> netns_;
  std::unordered_map<uint64_t, SocketOwner> owners_;
  std::map<FlowTuple, std::pair<uint64_t, bool>> close_wait_entered_;  // when it entered, exactly or not
  uint64_t time_wait_seen_ = 0;       // TIME_WAIT sockets at the last snapshot
  uint64_t time_wait_listed_ns_ = 0;  // when they were last listed one by one
  DeltaTable<ListenerCountRow> listener_counts_{"tcp", "listener_counts"};
  DeltaTable<NetnsRow> netstat_{"tcp", "netstat"};
  // The last gauge rows written: a gauge is written again only when it changed.
  std::optional<ListenersGauge> listeners_written_;
  std::optional<CloseWaitGauge> close_wait_written_;
  std::optional<TimeWaitGauge> time_wait_written_;
};

}  // namespace triage::tcp

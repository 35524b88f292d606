// The tcp family's socket side, which needs no BPF: every interval it reads each network
// namespace (listeners and their accept queues, the kernel's TCP counters; SYN_RECV, CLOSE_WAIT
// and TIME_WAIT sockets when the connection walk is due) and hands the snapshots to
// SocketAggregator (tcp_socket_aggregator.h), which turns them into the rows of tcp_rows.h; this
// side writes them.
#pragma once

#include <cstdint>
#include <string>

#include "core/counter_delta.h"
#include "core/delta_table.h"
#include "record/recording.h"
#include "tcp/tcp_netns.h"
#include "tcp/tcp_rows.h"
#include "tcp/tcp_socket_aggregator.h"

namespace triage::tcp {

class SocketSampler {
 public:
  explicit SocketSampler(uint64_t window_start_ns)
      : aggregator_(window_start_ns, [](const std::vector<uint64_t> &inodes) { return find_socket_owners(inodes, "/proc", true); }) {}

  // Reads every namespace once, as the counters' baseline. False (with the first error) when
  // triage's own namespace cannot be read: then there are no snapshots.
  bool attach(std::string &error);
  // One interval, ending at now_ns (`last`: the window's end, where everything is walked).
  void sample(uint64_t now_ns, double dt_s, bool full_interval, bool last, const ListenDrops &drops,
              CounterDeltas &deltas, RecordingWriter &out);

  const WalkSchedule &walks() const { return aggregator_.walks(); }
  bool one_request() const { return aggregator_.one_request(); }

 private:
  NamespaceFinder namespace_finder_;
  SocketAggregator aggregator_;
  DeltaTable<ListenerCountRow> listener_counts_{"tcp", "listener_counts"};
  DeltaTable<NetnsRow> netstat_{"tcp", "netstat"};
};

}  // namespace triage::tcp

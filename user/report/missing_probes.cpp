#include "report/missing_probes.h"

#include <fmt/format.h>

#include <map>

namespace triage {

std::string what_missing_probe_hides(const std::string &probe, const std::string &family) {
  static const std::map<std::string, std::string> kHides = {
      {"sched_switch", "the whole sched section: run-queue latency, D-state waits and the load decomposition"},
      {"sched_wakeup",
       "who woke a D-state task, and the end of D-state waits (they end at the next switch-in and include run-queue time)"},
      {"sched_wakeup_new", "run-queue latency of newly forked tasks before their first run"},
      {"sched_seed", "tasks already waiting when recording started (counted only from their next event)"},
      {"block_rq_insert", "time requests spent queued before dispatch (only device time, issue to complete, is seen)"},
      {"block_rq_issue", "the whole block section: disk latency and the I/O attribution of D-state waits"},
      {"block_rq_complete", "the whole block section: disk latency and the I/O attribution of D-state waits"},
      {"tcp_state", "TCP connection lifecycles: connect latency, CLOSE_WAIT leaks and the reset recognisers' context"},
      {"tcp_retransmit", "TCP retransmissions and the flows that retransmit"},
      {"tcp_retransmit_synack", "SYN-ACK retransmissions (a listener's half-open connections timing out)"},
      {"tcp_listen_drops", "which listener dropped connections on accept-queue overflow"},
      {"tcp_send_reset", "resets this host sent"},
      {"tcp_receive_reset", "resets this host received"},
      {"tcp_sockets", "socket snapshots: queues, listener backlog and per-namespace netstat counters"},
      {"oom_mark_victim", "OOM kills: which process was killed, its memory and its cgroup's"},
  };
  auto it = kHides.find(probe);
  if (it != kHides.end()) return it->second;
  return fmt::format("what the {} family would have seen through {}", family, probe);
}

}  // namespace triage

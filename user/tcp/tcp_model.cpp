#include "tcp/tcp_model.h"

#include <algorithm>
#include <map>
#include <set>
#include <tuple>

#include "core/percpu_sum.h"
#include "tcp/tcp_abi.h"

namespace triage::tcp {

std::string state_name(int state) {
  static const char *const names[] = {"TCP_UNKNOWN",   "TCP_ESTABLISHED", "TCP_SYN_SENT", "TCP_SYN_RECV",
                                      "TCP_FIN_WAIT1", "TCP_FIN_WAIT2",   "TCP_TIME_WAIT", "TCP_CLOSE",
                                      "TCP_CLOSE_WAIT", "TCP_LAST_ACK",   "TCP_LISTEN",   "TCP_CLOSING",
                                      "TCP_NEW_SYN_RECV", "TCP_BOUND_INACTIVE"};
  if (state < 0 || state >= static_cast<int>(std::size(names))) return "TCP_STATE_" + std::to_string(state);
  return names[state];
}

const char *role_name(int role) {
  switch (role) {
    case TCP_ROLE_SERVER: return "server";
    case TCP_ROLE_CLIENT: return "client";
    case TCP_ROLE_LISTENER: return "listener";
    default: return "unknown";
  }
}

namespace {

// Narrows the candidates with each test in turn (a test that matches nobody leaves them as they
// were) and gives the whole delta to a single survivor. `full_test` is the index of the test that
// means "full at this sample", for saying why several were left.
template <typename... Tests>
Attribution give_to_single(uint64_t delta, size_t listeners, size_t full_test, Tests... tests) {
  Attribution a;
  a.shares.assign(listeners, 0);
  if (!delta) return a;
  std::vector<size_t> candidates(listeners);
  for (size_t i = 0; i < listeners; i++) candidates[i] = i;
  size_t step = 0, full_at_sample = 0;
  auto narrow = [&](const auto &test) {
    std::vector<size_t> kept;
    for (size_t i : candidates)
      if (test(i)) kept.push_back(i);
    if (step++ == full_test) full_at_sample = kept.size();
    if (!kept.empty()) candidates = std::move(kept);
  };
  (narrow(tests), ...);
  if (candidates.size() == 1) {
    a.shares[candidates[0]] = delta;
  } else {
    a.unattributed = delta;
    a.several_full = full_at_sample > 1;
    a.no_listener = listeners == 0;
  }
  return a;
}

}  // namespace

Attribution attribute_overflows(uint64_t delta, const std::vector<ListenerSignal> &signals) {
  return give_to_single(
      delta, signals.size(), 1, [&](size_t i) { return signals[i].overflow_drops > 0; },
      [&](size_t i) { return signals[i].queue_full; }, [&](size_t i) { return signals[i].ever_full; });
}

Attribution attribute_syn_queue(uint64_t delta, const std::vector<ListenerSignal> &signals) {
  return give_to_single(delta, signals.size(), 1, [&](size_t i) { return signals[i].syn_recv > 0; },
                        [&](size_t i) { return signals[i].queue_full; });
}

std::map<std::string, uint64_t> NetnsCounters::advance(const std::map<std::string, uint64_t> &now,
                                                       CounterDeltas &deltas) {
  std::map<std::string, uint64_t> interval;
  // A namespace seen for the first time was born in the window (the ones before it were read at
  // its start): its counters began at 0. A counter new in a namespace read before is a baseline.
  const bool born = last.empty();
  for (const auto &[key, value] : now) {
    auto before = last.find(key);
    uint64_t d = before != last.end() ? deltas(before->second, value) : born ? value : 0;
    last[key] = value;
    if (d) interval[key] = d, window[key] += d;
  }
  return interval;
}

std::string active_closer(uint64_t server, uint64_t client) {
  uint64_t total = server + client;
  if (!total) return "none";
  if (!client) return "server";
  if (!server) return "client";
  if (server * 4 < total * 3 && client * 4 < total * 3) return "both";
  return server > client ? "mostly server" : "mostly client";
}

TimeWaitGauge time_wait_summary(const std::vector<NetnsSnapshot> &namespaces) {
  std::map<std::tuple<uint32_t, std::string, uint16_t>, uint64_t> by_port;
  TimeWaitGauge tw;
  for (const auto &ns : namespaces) {
    std::set<uint16_t> listening;
    for (const auto &s : ns.sockets)
      if (s.state == TCP_ST_LISTEN) listening.insert(s.lport);
    for (const auto &s : ns.sockets) {
      if (s.state != TCP_ST_TIME_WAIT) continue;
      bool on_server = listening.count(s.lport) > 0;
      // The service port names the traffic on either side: local on the server, remote on a client.
      by_port[{ns.inode, on_server ? "server" : "client", on_server ? s.lport : s.rport}]++;
      (on_server ? tw.server : tw.client)++;
    }
  }
  for (const auto &[key, count] : by_port)
    tw.by_port.push_back({std::get<0>(key), std::get<1>(key), std::get<2>(key), count});
  std::stable_sort(tw.by_port.begin(), tw.by_port.end(),
                   [](const TimeWaitPort &a, const TimeWaitPort &b) { return a.count > b.count; });
  tw.count = tw.server + tw.client;
  return tw;
}

uint32_t port_slots_for(int cpus) {
  constexpr uint64_t kBudget = 16ull << 20;
  uint64_t slots = kBudget / (sizeof(tcp_port_stats) * static_cast<uint64_t>(std::max(cpus, 1)));
  return static_cast<uint32_t>(std::clamp<uint64_t>(slots, 256, TCP_PORT_SLOTS_MAX));
}

void add_port_copies(tcp_port_stats &total, const std::vector<tcp_port_stats> &per_cpu) {
  for (const auto &copy : per_cpu) {
    uint64_t connect_max = std::max(total.connect_ns_max, copy.connect_ns_max);
    add_u64_fields(total, copy);
    total.connect_ns_max = connect_max;
  }
}

void WalkSchedule::walked(uint64_t now_ns, uint64_t cpu_ns) {
  if (walks_++) longest_gap_seen_ns_ = std::max(longest_gap_seen_ns_, now_ns - last_ns_);
  cpu_ns_ += cpu_ns;
  last_ns_ = now_ns;
  auto wait_for = [&](double share) {
    double wait_ns = static_cast<double>(cpu_ns) / share;
    return now_ns + (wait_ns >= static_cast<double>(longest_gap_ns_) ? longest_gap_ns_ : static_cast<uint64_t>(wait_ns));
  };
  next_ns_ = wait_for(cpu_share_);
  next_under_pressure_ns_ = wait_for(pressure_cpu_share_);
}

}  // namespace triage::tcp

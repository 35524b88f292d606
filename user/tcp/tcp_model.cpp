#include "tcp/tcp_model.h"

#include <algorithm>
#include <map>
#include <set>
#include <tuple>

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

std::vector<uint64_t> give_to_single(uint64_t delta, const std::vector<bool> &candidate, uint64_t &unattributed) {
  std::vector<uint64_t> shares(candidate.size(), 0);
  unattributed = 0;
  if (!delta) return shares;
  size_t count = 0, which = 0;
  for (size_t i = 0; i < candidate.size(); i++)
    if (candidate[i]) count++, which = i;
  if (count == 0 && candidate.size() == 1) count = 1, which = 0;
  if (count == 1) shares[which] = delta;
  else unattributed = delta;
  return shares;
}

}  // namespace

std::vector<uint64_t> attribute_overflows(uint64_t delta, const std::vector<ListenerSignal> &signals,
                                          uint64_t &unattributed) {
  std::vector<bool> by_drops(signals.size()), by_queue(signals.size());
  bool any_drops = false;
  for (size_t i = 0; i < signals.size(); i++) {
    by_drops[i] = signals[i].overflow_drops > 0;
    by_queue[i] = signals[i].queue_full;
    any_drops |= by_drops[i];
  }
  // The drops name the listener directly; a full queue is the weaker, sampled evidence.
  return give_to_single(delta, any_drops ? by_drops : by_queue, unattributed);
}

std::vector<uint64_t> attribute_syn_queue(uint64_t delta, const std::vector<ListenerSignal> &signals,
                                          uint64_t &unattributed) {
  std::vector<bool> candidate(signals.size());
  for (size_t i = 0; i < signals.size(); i++) candidate[i] = signals[i].syn_recv > 0 || signals[i].queue_full;
  return give_to_single(delta, candidate, unattributed);
}

std::string active_closer(uint64_t server, uint64_t client) {
  uint64_t total = server + client;
  if (!total) return "none";
  if (!client) return "server";
  if (!server) return "client";
  if (server * 4 < total * 3 && client * 4 < total * 3) return "both";
  return server > client ? "mostly server" : "mostly client";
}

nlohmann::json time_wait_summary(const std::vector<NetnsSnapshot> &namespaces) {
  std::map<std::tuple<uint32_t, std::string, uint16_t>, uint64_t> by_port;
  uint64_t server = 0, client = 0;
  for (const auto &ns : namespaces) {
    std::set<uint16_t> listening;
    for (const auto &s : ns.sockets)
      if (s.state == TCP_ST_LISTEN) listening.insert(s.lport);
    for (const auto &s : ns.sockets) {
      if (s.state != TCP_ST_TIME_WAIT) continue;
      bool on_server = listening.count(s.lport) > 0;
      // The service port names the traffic on either side: local on the server, remote on a client.
      by_port[{ns.inode, on_server ? "server" : "client", on_server ? s.lport : s.rport}]++;
      (on_server ? server : client)++;
    }
  }
  nlohmann::json ports = nlohmann::json::array();
  for (const auto &[key, count] : by_port)
    ports.push_back({{"netns", std::get<0>(key)}, {"side", std::get<1>(key)}, {"port", std::get<2>(key)}, {"count", count}});
  std::sort(ports.begin(), ports.end(), [](const auto &a, const auto &b) { return a["count"] > b["count"]; });
  return {{"count", server + client}, {"server", server}, {"client", client}, {"by_port", ports},
          {"active_closer", active_closer(server, client)}};
}

uint32_t port_slots_for(int cpus) {
  constexpr uint64_t kBudget = 16ull << 20;
  uint64_t slots = kBudget / (sizeof(tcp_port_stats) * static_cast<uint64_t>(std::max(cpus, 1)));
  return static_cast<uint32_t>(std::clamp<uint64_t>(slots, 256, TCP_PORT_SLOTS_MAX));
}

void add_port_copies(tcp_port_stats &total, const std::vector<tcp_port_stats> &per_cpu) {
  static_assert(sizeof(tcp_port_stats) % sizeof(uint64_t) == 0);
  for (const auto &copy : per_cpu) {
    uint64_t connect_max = std::max(total.connect_ns_max, copy.connect_ns_max);
    const auto *src = reinterpret_cast<const uint64_t *>(&copy);
    auto *dst = reinterpret_cast<uint64_t *>(&total);
    for (size_t i = 0; i < sizeof(total) / sizeof(uint64_t); i++) dst[i] += src[i];
    total.connect_ns_max = connect_max;
  }
}

void WalkSchedule::walked(uint64_t now_ns, uint64_t cpu_ns) {
  if (walks_++) longest_gap_seen_ns_ = std::max(longest_gap_seen_ns_, now_ns - last_ns_);
  cpu_ns_ += cpu_ns;
  last_ns_ = now_ns;
  double wait_ns = static_cast<double>(cpu_ns) / cpu_share_;
  next_ns_ = now_ns + (wait_ns >= static_cast<double>(longest_gap_ns_) ? longest_gap_ns_ : static_cast<uint64_t>(wait_ns));
}

}  // namespace triage::tcp

// ss -tan: TCP sockets by state and port, and listeners with their accept queues. Read over
// NETLINK_SOCK_DIAG (one dump per address family, fast with tens of thousands of sockets), or from
// /proc/net/tcp{,6} when netlink is unavailable.
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <set>

#include <fmt/format.h>

#include "core/sock_diag.h"
#include "snapshot/snapshot_parts.h"

namespace triage::snapshot_detail {

using nlohmann::json;

namespace {

constexpr int kTcpNewSynRecv = 12;  // request sockets; ss shows them as SYN_RECV
constexpr int kTcpListen = 10;
constexpr size_t kMaxPortGroups = 50;

// Index = kernel TCP_* state number (include/net/tcp_states.h).
constexpr const char *kTcpStateNames[] = {"UNKNOWN",   "ESTABLISHED", "SYN_SENT", "SYN_RECV",
                                          "FIN_WAIT1", "FIN_WAIT2",   "TIME_WAIT", "CLOSE",
                                          "CLOSE_WAIT", "LAST_ACK",   "LISTEN",   "CLOSING"};

// "0100007F:0016" (IPv4) or 32 hex digits (IPv6) then ":port". The kernel prints each 32-bit word
// of the address as a host-order number, so copying the parsed words back in host order restores
// the address bytes.
bool parse_hex_endpoint(std::string_view word, int &family, std::string &address, uint16_t &port) {
  size_t colon = word.find(':');
  if (colon == std::string_view::npos) return false;
  std::string_view hex = word.substr(0, colon);
  if (hex.size() != 8 && hex.size() != 32) return false;
  uint32_t words[4] = {};
  for (size_t i = 0; i < hex.size() / 8; ++i) {
    auto chunk = hex.substr(i * 8, 8);
    if (std::from_chars(chunk.data(), chunk.data() + 8, words[i], 16).ec != std::errc()) return false;
  }
  auto port_hex = word.substr(colon + 1);
  if (std::from_chars(port_hex.data(), port_hex.data() + port_hex.size(), port, 16).ec != std::errc()) return false;
  unsigned char bytes[16];
  std::memcpy(bytes, words, sizeof bytes);
  family = hex.size() == 8 ? AF_INET : AF_INET6;
  address = address_text(family, bytes);
  return true;
}

}  // namespace

const char *tcp_state_name(int state) {
  if (state == kTcpNewSynRecv) return "SYN_RECV";
  if (state < 0 || state >= static_cast<int>(std::size(kTcpStateNames))) return "UNKNOWN";
  return kTcpStateNames[state];
}

std::optional<std::vector<DiagSocket>> dump_tcp_sockets_netlink(std::string *reason) {
  UniqueFd netlink = open_sock_diag(*reason);
  if (!netlink) return std::nullopt;
  std::vector<DiagSocket> listed;
  for (uint8_t family : {uint8_t{AF_INET}, uint8_t{AF_INET6}}) {
    // Every state, TIME_WAIT and request sockets included; no tcp_info (a cost per socket).
    if (!dump_tcp_sockets(netlink.get(), SockDiagDump{family}, listed, *reason)) return std::nullopt;
  }
  return listed;
}

std::vector<DiagSocket> parse_proc_net_tcp(std::string_view text) {
  std::vector<DiagSocket> sockets;
  while (!text.empty()) {
    size_t end = text.find('\n');
    std::string_view line = text.substr(0, end);
    text.remove_prefix(end == std::string_view::npos ? text.size() : end + 1);
    // "sl local_address rem_address st tx_queue:rx_queue ..."; the header line fails to parse.
    std::vector<std::string_view> words;
    for (size_t pos = 0; words.size() < 5;) {
      size_t start = line.find_first_not_of(' ', pos);
      if (start == std::string_view::npos) break;
      size_t stop = std::min(line.find(' ', start), line.size());
      words.push_back(line.substr(start, stop - start));
      pos = stop;
    }
    if (words.size() < 5) continue;
    DiagSocket socket;
    int state = 0;
    size_t queue_colon = words[4].find(':');
    if (!parse_hex_endpoint(words[1], socket.family, socket.laddr, socket.lport) ||
        !parse_hex_endpoint(words[2], socket.family, socket.raddr, socket.rport) ||
        std::from_chars(words[3].data(), words[3].data() + words[3].size(), state, 16).ec != std::errc() ||
        queue_colon == std::string_view::npos)
      continue;
    socket.state = state;
    // For LISTEN sockets rx_queue is the accept queue length; the backlog maximum is not shown.
    auto rx = words[4].substr(queue_colon + 1);
    std::from_chars(rx.data(), rx.data() + rx.size(), socket.rqueue, 16);
    sockets.push_back(std::move(socket));
  }
  return sockets;
}

json socket_summary(const std::vector<DiagSocket> &sockets, std::optional<uint64_t> netns, SocketSource source) {
  json states = json::object();
  for (int state = 1; state < static_cast<int>(std::size(kTcpStateNames)); ++state) states[tcp_state_name(state)] = 0;

  std::set<uint16_t> listening_ports;
  json listeners = json::array();
  for (const auto &socket : sockets) {
    if (socket.state != kTcpListen) continue;
    listening_ports.insert(socket.lport);
    listeners.push_back({{"addr", socket.laddr},
                         {"port", socket.lport},
                         {"backlog", socket.rqueue},
                         {"backlog_max", source == SocketSource::sock_diag ? json(socket.wqueue) : json(nullptr)},
                         {"netns", netns ? json(*netns) : json(nullptr)}});
  }

  std::map<std::pair<uint16_t, std::string>, int64_t> groups;
  for (const auto &socket : sockets) {
    const char *name = tcp_state_name(socket.state);
    states[name] = states.value(name, 0) + 1;
    bool server_side = socket.state == kTcpListen || listening_ports.count(socket.lport) > 0;
    ++groups[{server_side ? socket.lport : socket.rport, name}];
  }
  std::vector<std::pair<std::pair<uint16_t, std::string>, int64_t>> ranked(groups.begin(), groups.end());
  std::stable_sort(ranked.begin(), ranked.end(), [](const auto &a, const auto &b) { return a.second > b.second; });
  if (ranked.size() > kMaxPortGroups) ranked.resize(kMaxPortGroups);
  json by_port = json::array();
  for (const auto &[key, count] : ranked) by_port.push_back({{"port", key.first}, {"state", key.second}, {"count", count}});

  return {{"states", std::move(states)}, {"by_port", std::move(by_port)}, {"listeners", std::move(listeners)}};
}

}  // namespace triage::snapshot_detail

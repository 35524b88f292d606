// ss -tan: TCP sockets by state and port, and listeners with their accept queues. Read over
// NETLINK_SOCK_DIAG (one dump per address family, fast with tens of thousands of sockets), or from
// /proc/net/tcp{,6} when netlink is unavailable.
#include <arpa/inet.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <set>

#include <fmt/format.h>

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

std::string address_text(int family, const void *address) {
  char text[INET6_ADDRSTRLEN] = {};
  if (!::inet_ntop(family, address, text, sizeof text)) return "?";
  return text;
}

class NetlinkSocket {
 public:
  NetlinkSocket() : fd_(::socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG)) {}
  ~NetlinkSocket() {
    if (fd_ >= 0) ::close(fd_);
  }
  NetlinkSocket(const NetlinkSocket &) = delete;
  NetlinkSocket &operator=(const NetlinkSocket &) = delete;
  int fd() const { return fd_; }

 private:
  int fd_;
};

bool send_dump_request(int fd, uint8_t family, std::string *reason) {
  struct {
    nlmsghdr header;
    inet_diag_req_v2 request;
  } message{};
  message.header.nlmsg_len = sizeof message;
  message.header.nlmsg_type = SOCK_DIAG_BY_FAMILY;
  message.header.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  message.header.nlmsg_seq = family;
  message.request.sdiag_family = family;
  message.request.sdiag_protocol = IPPROTO_TCP;
  message.request.idiag_states = ~0u;  // every state, TIME_WAIT and request sockets included
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  if (::sendto(fd, &message, sizeof message, 0, reinterpret_cast<sockaddr *>(&kernel), sizeof kernel) < 0) {
    *reason = fmt::format("sock_diag request: {}", std::strerror(errno));
    return false;
  }
  return true;
}

TcpSocket socket_from_diag(const inet_diag_msg &diag) {
  TcpSocket socket;
  socket.state = diag.idiag_state;
  socket.local_addr = address_text(diag.idiag_family, diag.id.idiag_src);
  socket.remote_addr = address_text(diag.idiag_family, diag.id.idiag_dst);
  socket.local_port = ntohs(diag.id.idiag_sport);
  socket.remote_port = ntohs(diag.id.idiag_dport);
  socket.rqueue = diag.idiag_rqueue;
  if (diag.idiag_state == kTcpListen) socket.wqueue = diag.idiag_wqueue;
  return socket;
}

// Reads the dump's replies until NLMSG_DONE.
bool receive_dump(int fd, std::vector<TcpSocket> &sockets, std::string *reason) {
  std::vector<char> buffer(1 << 16);
  for (;;) {
    ssize_t length = ::recv(fd, buffer.data(), buffer.size(), 0);
    if (length < 0 && errno == EINTR) continue;
    if (length <= 0) {
      *reason = fmt::format("sock_diag receive: {}", length < 0 ? std::strerror(errno) : "connection closed");
      return false;
    }
    auto *header = reinterpret_cast<nlmsghdr *>(buffer.data());
    int remaining = static_cast<int>(length);
    for (; NLMSG_OK(header, remaining); header = NLMSG_NEXT(header, remaining)) {
      if (header->nlmsg_type == NLMSG_DONE) return true;
      if (header->nlmsg_type == NLMSG_ERROR) {
        auto *error = static_cast<nlmsgerr *>(NLMSG_DATA(header));
        *reason = fmt::format("sock_diag: {}", std::strerror(-error->error));
        return false;
      }
      if (header->nlmsg_type != SOCK_DIAG_BY_FAMILY || header->nlmsg_len < NLMSG_LENGTH(sizeof(inet_diag_msg)))
        continue;
      sockets.push_back(socket_from_diag(*static_cast<inet_diag_msg *>(NLMSG_DATA(header))));
    }
  }
}

// "0100007F:0016" (IPv4) or 32 hex digits (IPv6) then ":port". The kernel prints each 32-bit word
// of the address as a host-order number, so copying the parsed words back in host order restores
// the address bytes.
bool parse_hex_endpoint(std::string_view word, std::string &address, uint16_t &port) {
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
  address = address_text(hex.size() == 8 ? AF_INET : AF_INET6, bytes);
  return true;
}

}  // namespace

const char *tcp_state_name(int state) {
  if (state == kTcpNewSynRecv) return "SYN_RECV";
  if (state < 0 || state >= static_cast<int>(std::size(kTcpStateNames))) return "UNKNOWN";
  return kTcpStateNames[state];
}

std::optional<std::vector<TcpSocket>> dump_tcp_sockets_netlink(std::string *reason) {
  NetlinkSocket netlink;
  if (netlink.fd() < 0) {
    *reason = fmt::format("sock_diag socket: {}", std::strerror(errno));
    return std::nullopt;
  }
  // A dump never blocks for long; the timeout only guards against a kernel that never answers.
  timeval timeout{1, 0};
  ::setsockopt(netlink.fd(), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  std::vector<TcpSocket> sockets;
  for (uint8_t family : {uint8_t{AF_INET}, uint8_t{AF_INET6}}) {
    if (!send_dump_request(netlink.fd(), family, reason) || !receive_dump(netlink.fd(), sockets, reason))
      return std::nullopt;
  }
  return sockets;
}

std::vector<TcpSocket> parse_proc_net_tcp(std::string_view text) {
  std::vector<TcpSocket> sockets;
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
    TcpSocket socket;
    int state = 0;
    size_t queue_colon = words[4].find(':');
    if (!parse_hex_endpoint(words[1], socket.local_addr, socket.local_port) ||
        !parse_hex_endpoint(words[2], socket.remote_addr, socket.remote_port) ||
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

json socket_summary(const std::vector<TcpSocket> &sockets, std::optional<uint64_t> netns) {
  json states = json::object();
  for (int state = 1; state < static_cast<int>(std::size(kTcpStateNames)); ++state) states[tcp_state_name(state)] = 0;

  std::set<uint16_t> listening_ports;
  json listeners = json::array();
  for (const auto &socket : sockets) {
    if (socket.state != kTcpListen) continue;
    listening_ports.insert(socket.local_port);
    listeners.push_back({{"addr", socket.local_addr},
                         {"port", socket.local_port},
                         {"backlog", socket.rqueue},
                         {"backlog_max", socket.wqueue ? json(*socket.wqueue) : json(nullptr)},
                         {"netns", netns ? json(*netns) : json(nullptr)}});
  }

  std::map<std::pair<uint16_t, std::string>, int64_t> groups;
  for (const auto &socket : sockets) {
    const char *name = tcp_state_name(socket.state);
    states[name] = states.value(name, 0) + 1;
    bool server_side = socket.state == kTcpListen || listening_ports.count(socket.local_port) > 0;
    ++groups[{server_side ? socket.local_port : socket.remote_port, name}];
  }
  std::vector<std::pair<std::pair<uint16_t, std::string>, int64_t>> ranked(groups.begin(), groups.end());
  std::stable_sort(ranked.begin(), ranked.end(), [](const auto &a, const auto &b) { return a.second > b.second; });
  if (ranked.size() > kMaxPortGroups) ranked.resize(kMaxPortGroups);
  json by_port = json::array();
  for (const auto &[key, count] : ranked) by_port.push_back({{"port", key.first}, {"state", key.second}, {"count", count}});

  return {{"states", std::move(states)}, {"by_port", std::move(by_port)}, {"listeners", std::move(listeners)}};
}

}  // namespace triage::snapshot_detail

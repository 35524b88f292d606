#include "core/sock_diag.h"

#include <arpa/inet.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstring>

#include <fmt/format.h>

namespace triage {
namespace {

int64_t last_ack_recv_ms(const inet_diag_msg &diag, int attributes_length) {
  for (auto *a = reinterpret_cast<const rtattr *>(&diag + 1); RTA_OK(a, attributes_length);
       a = RTA_NEXT(a, attributes_length))
    // Older kernels send a shorter tcp_info; the field is in every version's.
    if (a->rta_type == INET_DIAG_INFO && RTA_PAYLOAD(a) >= offsetof(tcp_info, tcpi_last_ack_recv) + sizeof(uint32_t)) {
      tcp_info info{};
      std::memcpy(&info, RTA_DATA(a), std::min<size_t>(RTA_PAYLOAD(a), sizeof info));
      return info.tcpi_last_ack_recv;
    }
  return -1;
}

DiagSocket socket_of(const inet_diag_msg &diag, int attributes_length) {
  DiagSocket s;
  s.family = diag.idiag_family;
  s.state = diag.idiag_state;
  s.laddr = address_text(diag.idiag_family, diag.id.idiag_src);
  s.raddr = address_text(diag.idiag_family, diag.id.idiag_dst);
  s.lport = ntohs(diag.id.idiag_sport);
  s.rport = ntohs(diag.id.idiag_dport);
  s.rqueue = diag.idiag_rqueue;
  s.wqueue = diag.idiag_wqueue;
  s.inode = diag.idiag_inode;
  s.last_ack_recv_ms = last_ack_recv_ms(diag, attributes_length);
  return s;
}

}  // namespace

std::string address_text(int family, const void *address) {
  char text[INET6_ADDRSTRLEN] = {};
  if (!::inet_ntop(family, address, text, sizeof text)) return "?";
  return text;
}

UniqueFd open_sock_diag(std::string &error) {
  UniqueFd fd(::socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG));
  if (!fd) {
    error = fmt::format("sock_diag socket: {}", std::strerror(errno));
    return fd;
  }
  timeval timeout{1, 0};
  ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  return fd;
}

bool dump_tcp_sockets(int fd, const SockDiagDump &dump, std::vector<DiagSocket> &out, std::string &error) {
  const uint8_t want_info = dump.tcp_info ? 1u << (INET_DIAG_INFO - 1) : 0;
  struct {
    nlmsghdr header;
    union {
      inet_diag_req_v2 by_family;
      inet_diag_req both;
    } request;
  } message{};
  const bool both = dump.family == AF_UNSPEC;
  message.header.nlmsg_len = NLMSG_LENGTH(both ? sizeof(inet_diag_req) : sizeof(inet_diag_req_v2));
  message.header.nlmsg_type = both ? TCPDIAG_GETSOCK : SOCK_DIAG_BY_FAMILY;
  message.header.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  message.header.nlmsg_seq = dump.family;
  if (both) {
    message.request.both.idiag_family = AF_INET;  // routes the request; the dump takes every family
    message.request.both.idiag_states = dump.states;
    message.request.both.idiag_ext = want_info;
  } else {
    message.request.by_family.sdiag_family = dump.family;
    message.request.by_family.sdiag_protocol = IPPROTO_TCP;
    message.request.by_family.idiag_states = dump.states;
    message.request.by_family.idiag_ext = want_info;
  }
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  if (::sendto(fd, &message, message.header.nlmsg_len, 0, reinterpret_cast<sockaddr *>(&kernel), sizeof kernel) < 0) {
    error = fmt::format("sock_diag request: {}", std::strerror(errno));
    return false;
  }
  std::vector<char> buffer(1 << 16);
  for (;;) {
    ssize_t length = ::recv(fd, buffer.data(), buffer.size(), 0);
    if (length < 0 && errno == EINTR) continue;
    if (length <= 0) {
      error = fmt::format("sock_diag receive: {}", length < 0 ? std::strerror(errno) : "connection closed");
      return false;
    }
    auto *header = reinterpret_cast<nlmsghdr *>(buffer.data());
    int remaining = static_cast<int>(length);
    for (; NLMSG_OK(header, remaining); header = NLMSG_NEXT(header, remaining)) {
      if (header->nlmsg_seq != message.header.nlmsg_seq) continue;  // the rest of an earlier dump that failed
      if (header->nlmsg_type == NLMSG_DONE) return true;
      if (header->nlmsg_type == NLMSG_ERROR) {
        auto *err = static_cast<nlmsgerr *>(NLMSG_DATA(header));
        error = fmt::format("sock_diag: {}", std::strerror(-err->error));
        return false;
      }
      if (header->nlmsg_type != message.header.nlmsg_type || header->nlmsg_len < NLMSG_LENGTH(sizeof(inet_diag_msg)))
        continue;
      out.push_back(socket_of(*static_cast<const inet_diag_msg *>(NLMSG_DATA(header)),
                              static_cast<int>(header->nlmsg_len - NLMSG_LENGTH(sizeof(inet_diag_msg)))));
    }
  }
}

}  // namespace triage

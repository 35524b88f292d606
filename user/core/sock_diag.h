// TCP sockets as the kernel lists them over NETLINK_SOCK_DIAG (what `ss` reads): one reader for
// the checklist's snapshot and for the tcp family's per-namespace samples.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/unique_fd.h"

namespace triage {

struct DiagSocket {
  int family = 0;       // AF_INET / AF_INET6
  int state = 0;        // kernel TCP state number (TCP_ST_* in bpf/tcp/tcp.h)
  std::string laddr, raddr;
  uint16_t lport = 0, rport = 0;
  uint32_t rqueue = 0;  // LISTEN: accept queue length; else bytes not yet read
  uint32_t wqueue = 0;  // LISTEN: accept queue limit (backlog); else bytes not yet acked
  uint64_t inode = 0;   // socket inode (0 for TIME_WAIT and request socks)
  // ms since the last ACK it accepted (tcp_info.tcpi_last_ack_recv, kept by the kernel to a
  // jiffy); -1 without tcp_info (not asked for, TIME_WAIT and request socks). For a socket in
  // CLOSE_WAIT that has sent nothing since, the peer's FIN: how long it has been there.
  int64_t last_ack_recv_ms = -1;
};

struct SockDiagDump {
  // AF_INET, AF_INET6, or AF_UNSPEC for both in one walk of the hash: only the original request
  // (TCPDIAG_GETSOCK) can do that; a kernel without it answers with an error.
  uint8_t family = 0;
  uint32_t states = ~0u;  // bit per TCP state number
  bool tcp_info = false;  // ask for tcp_info (last_ack_recv_ms); only full sockets send it
};

// A sock_diag socket in the caller's network namespace whose receives give up after 1 s (a
// kernel that never answers); empty, with `error` set, if it cannot be opened.
UniqueFd open_sock_diag(std::string &error);

// Appends the sockets of one dump to `out`. False, with `error` set, if the dump failed; what it
// had appended by then stays (the caller decides whether a partial dump counts).
bool dump_tcp_sockets(int fd, const SockDiagDump &dump, std::vector<DiagSocket> &out, std::string &error);

// An address as inet_ntop writes it; "?" if it cannot.
std::string address_text(int family, const void *address);

}  // namespace triage

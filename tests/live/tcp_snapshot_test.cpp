// Live: the socket snapshot behind the listener, SYN_RECV and CLOSE_WAIT figures. One walk of the
// connection hash must find IPv4 and IPv6 sockets alike (it asks for both families in one request),
// the fallback of one walk per family the same sockets, and a listeners-only snapshot, the one
// taken between walks, the same listeners and no connection. The counts are checked against ss.
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <sys/wait.h>

#include <cstdio>
#include <map>
#include <utility>
#include <vector>

#include "live_support.h"
#include "tcp/tcp_abi.h"
#include "tcp_live.h"

namespace {

constexpr uint16_t kPort4 = 9300, kPort6 = 9301;
constexpr int kLeaks4 = 2, kLeaks6 = 3;

using Census = std::map<std::pair<int, int>, int>;  // (state, family) -> sockets

Census census(const triage::tcp::NetnsSnapshot &ns) {
  Census out;
  for (const auto &s : ns.sockets) out[{s.state, s.family}]++;
  return out;
}

int count_lines(const std::string &text, const char *containing = "") {
  int n = 0;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    if (end > start && text.substr(start, end - start).find(containing) != std::string::npos) n++;
    start = end + 1;
  }
  return n;
}

}  // namespace

TEST_CASE("tcp: a socket snapshot sees both families in one walk, and listeners without one") {
  live::require_tool("ip");
  live::require_tool("ss");
  tcplive::NetNs ns("triage-tcp-snap");

  live::Child server("tcp-snap-server", [&] {
    ns.enter();
    int l4 = tcplive::listen_on("127.0.0.1", kPort4, 16);
    int l6 = ::socket(AF_INET6, SOCK_STREAM, 0);
    sockaddr_in6 sa{};
    sa.sin6_family = AF_INET6;
    sa.sin6_port = htons(kPort6);
    sa.sin6_addr = in6addr_loopback;
    if (l6 < 0 || ::bind(l6, reinterpret_cast<sockaddr *>(&sa), sizeof sa) != 0 || ::listen(l6, 16) != 0)
      std::_Exit(93);
    std::vector<int> held;
    for (int i = 0; i < kLeaks4; i++) held.push_back(::accept(l4, nullptr, nullptr));
    for (int i = 0; i < kLeaks6; i++) held.push_back(::accept(l6, nullptr, nullptr));
    for (;;) ::pause();  // holds every accepted socket: the clients' closes leave them in CLOSE_WAIT
  });
  live::sleep_s(0.3);
  live::Child client("tcp-snap-client", [&] {
    ns.enter();
    std::vector<int> fds;
    for (int i = 0; i < kLeaks4; i++) {
      sockaddr_in sa = tcplive::ipv4("127.0.0.1", kPort4);
      int fd = ::socket(AF_INET, SOCK_STREAM, 0);
      if (::connect(fd, reinterpret_cast<sockaddr *>(&sa), sizeof sa) != 0) std::_Exit(92);
      fds.push_back(fd);
    }
    for (int i = 0; i < kLeaks6; i++) {
      sockaddr_in6 sa{};
      sa.sin6_family = AF_INET6;
      sa.sin6_port = htons(kPort6);
      sa.sin6_addr = in6addr_loopback;
      int fd = ::socket(AF_INET6, SOCK_STREAM, 0);
      if (::connect(fd, reinterpret_cast<sockaddr *>(&sa), sizeof sa) != 0) std::_Exit(94);
      fds.push_back(fd);
    }
    for (int fd : fds) ::close(fd);
  });
  int status = 0;
  ::waitpid(client.pid(), &status, 0);
  REQUIRE(WIFEXITED(status));
  INFO("client exit 92/94: no IPv4/IPv6 connection on loopback in the namespace");
  REQUIRE(WEXITSTATUS(status) == 0);
  live::sleep_s(0.2);

  std::vector<triage::tcp::NetnsSnapshot> namespaces;
  for (auto &candidate : triage::tcp::NamespaceFinder(0).find(0))
    if (candidate.inode == ns.inode()) namespaces.push_back(candidate);
  REQUIRE(namespaces.size() == 1);
  auto listeners_only = namespaces;
  auto per_family = namespaces;

  uint64_t walk_cpu_ns = triage::tcp::snapshot_namespaces(namespaces, {true, false});
  uint64_t listen_cpu_ns = triage::tcp::snapshot_namespaces(listeners_only, {false, false});
  triage::tcp::snapshot_namespaces(per_family, {true, false, false});
  INFO(namespaces[0].error << listeners_only[0].error);
  REQUIRE(namespaces[0].error.empty());
  REQUIRE(listeners_only[0].error.empty());
  auto walked = census(namespaces[0]);
  auto listened = census(listeners_only[0]);

  auto ss_close_wait = live::run({"ip", "netns", "exec", ns.name(), "ss", "-Htan", "state", "close-wait"});
  auto ss_listen = live::run({"ip", "netns", "exec", ns.name(), "ss", "-Htln"});
  REQUIRE(ss_close_wait.exit_code == 0);
  std::printf("snapshot: CLOSE_WAIT v4 %d v6 %d (ss: %d, %d of them IPv6); walk %.2f ms of CPU, listeners only %.2f ms\n",
              walked[{TCP_ST_CLOSE_WAIT, AF_INET}], walked[{TCP_ST_CLOSE_WAIT, AF_INET6}], count_lines(ss_close_wait.out),
              count_lines(ss_close_wait.out, "["), static_cast<double>(walk_cpu_ns) / 1e6,
              static_cast<double>(listen_cpu_ns) / 1e6);

  CHECK(count_lines(ss_close_wait.out) == kLeaks4 + kLeaks6);
  CHECK(count_lines(ss_close_wait.out, "[") == kLeaks6);
  CHECK(walked[{TCP_ST_CLOSE_WAIT, AF_INET}] == kLeaks4);
  CHECK(walked[{TCP_ST_CLOSE_WAIT, AF_INET6}] == kLeaks6);
  CHECK(walked[{TCP_ST_LISTEN, AF_INET}] == 1);
  CHECK(walked[{TCP_ST_LISTEN, AF_INET6}] == 1);
  CHECK(count_lines(ss_listen.out) == 2);
  CHECK(namespaces[0].connections_walked);
  CHECK_FALSE(namespaces[0].time_wait_listed);
  CHECK(walk_cpu_ns > 0);
  CHECK(namespaces[0].one_request);  // every kernel of the matrix takes it too

  // The fallback for a kernel without the one request: a walk per family, the same sockets.
  CHECK_FALSE(per_family[0].one_request);
  CHECK(per_family[0].error.empty());
  CHECK(census(per_family[0]) == walked);

  // Between walks: the same listeners, with their queues, and nothing from the connection hash.
  CHECK(listened[{TCP_ST_LISTEN, AF_INET}] == 1);
  CHECK(listened[{TCP_ST_LISTEN, AF_INET6}] == 1);
  CHECK(listeners_only[0].sockets.size() == 2);
  CHECK_FALSE(listeners_only[0].connections_walked);
  for (const auto &s : listeners_only[0].sockets) CHECK(s.wqueue == 16);  // the backlog each was given
  CHECK(!listeners_only[0].counters.empty());
}

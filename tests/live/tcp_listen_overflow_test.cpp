// Live: a listener with backlog 2 that never accepts, flooded with connects inside its own network
// namespace. The report must list the listener with backlog_max 2, the server's pid, overflows
// equal to the namespace's ListenOverflows delta, and a listen-overflow finding.
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <fcntl.h>
#include <sys/wait.h>

#include <cstdio>
#include <vector>

#include "live_support.h"
#include "tcp_live.h"

namespace {

constexpr uint16_t kPort = 9100;
constexpr int kBacklog = 2;
constexpr int kClients = 20;

// In a child: kClients connects to 127.0.0.1:port inside the namespace, held, then reset.
void flood(const tcplive::NetNs &ns, uint16_t port) {
  ns.enter();
  std::vector<int> fds;
  sockaddr_in sa = tcplive::ipv4("127.0.0.1", port);
  for (int i = 0; i < kClients; i++) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    ::connect(fd, reinterpret_cast<sockaddr *>(&sa), sizeof sa);
    fds.push_back(fd);
  }
  // Long enough for the first SYN retransmits (1 s, 3 s) to overflow again.
  live::sleep_s(3.5);
  for (int fd : fds) tcplive::abort_close(fd);
}

}  // namespace

TEST_CASE("tcp: accept-queue overflow is attributed to the listener") {
  live::require_tool("ip");
  tcplive::NetNs ns("triage-tcp-lo");
  live::TempDir dir;
  std::string db = dir.file("tcp.db");
  live::Recording rec(db, {"-d", "9", "--probes", "tcp"});
  REQUIRE(rec.wait_attached());
  auto before = ns.counters();

  live::Child server("tcp-lo-server", [&] {
    ns.enter();
    tcplive::listen_on("127.0.0.1", kPort, kBacklog);
    for (;;) ::pause();  // never accept()
  });
  live::sleep_s(0.3);
  live::Child client("tcp-lo-client", [&] { flood(ns, kPort); });
  int status = 0;
  ::waitpid(client.pid(), &status, 0);
  live::sleep_s(1.0);
  auto mid = ns.counters();
  REQUIRE(rec.wait() == 0);
  auto after = ns.counters();
  uint64_t overflows = tcplive::delta(before, after, "ListenOverflows");
  INFO("ListenOverflows delta " << overflows << " (" << tcplive::delta(before, mid, "ListenOverflows")
                                << " one second after the clients left)");
  REQUIRE(overflows > 0);

  auto report = live::report_json(db);
  const auto &tcp = report["tcp"];
  REQUIRE(tcp.is_object());
  const nlohmann::json *listener = nullptr;
  for (const auto &l : tcp["listeners"])
    if (l.value("port", 0) == kPort && l.value("netns", 0ULL) == ns.inode()) listener = &l;
  INFO(tcp["listeners"].dump(2));
  INFO(tcp["netstat"].dump(2));
  REQUIRE(listener != nullptr);
  CHECK(listener->value("backlog_max", 0) == kBacklog);
  CHECK(listener->value("backlog_peak", 0) == kBacklog + 1);  // the kernel admits backlog + 1
  CHECK(listener->value("pid", 0) == server.pid());
  CHECK(listener->value("comm", "") == "tcp-lo-server");
  CHECK(listener->value("overflows", 0ULL) == overflows);
  std::printf("listen overflow: report %llu, kernel ListenOverflows delta %llu, kfree_skb drops seen %llu\n",
              static_cast<unsigned long long>(listener->value("overflows", 0ULL)),
              static_cast<unsigned long long>(overflows),
              static_cast<unsigned long long>(listener->value("overflow_drops_seen", 0ULL)));

  const auto *finding = tcplive::find_finding(report, "listen-overflow");
  REQUIRE(finding != nullptr);
  CHECK(finding->value("title", "").find(std::to_string(kPort)) != std::string::npos);
}

// nginx's `listen 80; listen [::]:80;`: two listeners share the port, and kfree_skb's overflow
// drops are known by port only. Only the IPv4 one fills up: every overflow is its own, none is
// left "not attributable", and the IPv6 one has none.
TEST_CASE("tcp: overflows of one of two listeners sharing a port are that one's") {
  constexpr uint16_t kSharedPort = 9101;
  live::require_tool("ip");
  tcplive::NetNs ns("triage-tcp-lo6");
  live::TempDir dir;
  std::string db = dir.file("tcp.db");
  live::Recording rec(db, {"-d", "8", "--probes", "tcp"});
  REQUIRE(rec.wait_attached());
  auto before = ns.counters();

  live::Child server("tcp-lo6-server", [&] {
    ns.enter();
    tcplive::listen_on("127.0.0.1", kSharedPort, kBacklog);
    int fd = ::socket(AF_INET6, SOCK_STREAM, 0);
    int one = 1;
    ::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    sockaddr_in6 sa{};
    sa.sin6_family = AF_INET6;
    sa.sin6_port = htons(kSharedPort);
    sa.sin6_addr = in6addr_any;
    if (::bind(fd, reinterpret_cast<sockaddr *>(&sa), sizeof sa) != 0 || ::listen(fd, 64) != 0) std::_Exit(91);
    for (;;) ::pause();  // never accept()
  });
  live::sleep_s(0.3);
  live::Child client("tcp-lo6-client", [&] { flood(ns, kSharedPort); });
  int status = 0;
  ::waitpid(client.pid(), &status, 0);
  REQUIRE(rec.wait() == 0);
  uint64_t overflows = tcplive::delta(before, ns.counters(), "ListenOverflows");
  REQUIRE(overflows > 0);

  auto report = live::report_json(db);
  const auto &tcp = report["tcp"];
  REQUIRE(tcp.is_object());
  INFO(tcp["listeners"].dump(2));
  INFO(tcp["netstat"].dump(2));
  uint64_t v4 = 0, v6 = 0, rows = 0;
  for (const auto &l : tcp["listeners"])
    if (l.value("port", 0) == kSharedPort && l.value("netns", 0ULL) == ns.inode()) {
      rows++;
      (l.value("addr", "") == "127.0.0.1" ? v4 : v6) += l.value("overflows", 0ULL);
    }
  CHECK(rows == 2);
  CHECK(v4 == overflows);
  CHECK(v6 == 0);
  for (const auto &n : tcp["netstat"])
    if (n.value("netns", 0ULL) == ns.inode()) CHECK(n.value("unattributed_overflows", 0ULL) == 0);
  std::printf("shared port: IPv4 listener %llu overflows, IPv6 %llu, kernel ListenOverflows delta %llu\n",
              static_cast<unsigned long long>(v4), static_cast<unsigned long long>(v6),
              static_cast<unsigned long long>(overflows));
}

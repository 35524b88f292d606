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
  live::Child client("tcp-lo-client", [&] {
    ns.enter();
    std::vector<int> fds;
    sockaddr_in sa = tcplive::ipv4("127.0.0.1", kPort);
    for (int i = 0; i < kClients; i++) {
      int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
      ::connect(fd, reinterpret_cast<sockaddr *>(&sa), sizeof sa);
      fds.push_back(fd);
    }
    // Long enough for the first SYN retransmits (1 s, 3 s) to overflow again.
    live::sleep_s(3.5);
    for (int fd : fds) tcplive::abort_close(fd);
  });
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

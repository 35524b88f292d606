// Live: a server that closes keep-alive connections after 1 s idle, and a client that reuses its
// idle connections after 0.95-1.05 s: the reuses that come after the server's close meet a reset.
// The report's tcp.keepalive_races must hold them, with a keepalive-race finding, and the count
// must be backed by the namespace's TcpEstabResets (a reset received in CLOSE_WAIT counts there).
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <poll.h>
#include <sys/wait.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <thread>
#include <vector>

#include "live_support.h"
#include "tcp_live.h"

namespace {

constexpr uint16_t kPort = 9310;
constexpr int kConnections = 20;
constexpr int kServerIdleMs = 1000;

const char kRequest[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
const char kAnswer[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

void serve(int fd) {
  char buf[512];
  for (;;) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, kServerIdleMs) == 0) break;  // idle: the keep-alive timeout
    if (::read(fd, buf, sizeof buf) <= 0) break;
    ::write(fd, kAnswer, sizeof kAnswer - 1);
  }
  ::close(fd);
}

}  // namespace

TEST_CASE("tcp: a client reusing connections the server idle-closed is a keep-alive race") {
  live::require_tool("ip");
  tcplive::NetNs ns("triage-tcp-ka");
  live::TempDir dir;
  std::string db = dir.file("tcp.db");
  live::Recording rec(db, {"-d", "6", "--probes", "tcp"});
  REQUIRE(rec.wait_attached());
  auto before = ns.counters();

  live::Child server("tcp-ka-server", [&] {
    ns.enter();
    int lfd = tcplive::listen_on("127.0.0.1", kPort, 64);
    for (;;) {
      int fd = ::accept(lfd, nullptr, nullptr);
      if (fd >= 0) std::thread(serve, fd).detach();
    }
  });
  live::sleep_s(0.3);
  live::Child client("tcp-ka-client", [&] {
    ns.enter();
    std::atomic<int> raced{0}, failed{0};
    std::vector<std::thread> threads;
    for (int i = 0; i < kConnections; i++)
      threads.emplace_back([&, i] {
        sockaddr_in sa = tcplive::ipv4("127.0.0.1", kPort);
        int fd = ::socket(AF_INET, SOCK_STREAM, 0);
        char buf[512];
        if (::connect(fd, reinterpret_cast<sockaddr *>(&sa), sizeof sa) != 0) return void(failed++);
        ::write(fd, kRequest, sizeof kRequest - 1);
        if (::read(fd, buf, sizeof buf) <= 0) return void(failed++);
        live::sleep_s(0.95 + 0.1 * i / (kConnections - 1));  // idle, then reuse the connection
        ::write(fd, kRequest, sizeof kRequest - 1);
        live::sleep_s(0.05);
        ssize_t n = ::read(fd, buf, sizeof buf);
        if (n <= 0) raced++;  // EOF or ECONNRESET: the server had closed it
        ::close(fd);
      });
    for (auto &t : threads) t.join();
    std::_Exit(failed ? 95 : raced.load());
  });
  int status = 0;
  ::waitpid(client.pid(), &status, 0);
  REQUIRE(WIFEXITED(status));
  REQUIRE(WEXITSTATUS(status) != 95);
  int client_saw = WEXITSTATUS(status);
  REQUIRE(rec.wait() == 0);
  auto after = ns.counters();
  uint64_t estab_resets = tcplive::delta(before, after, "TcpEstabResets");

  auto report = live::report_json(db);
  const auto &tcp = report["tcp"];
  REQUIRE(tcp.is_object());
  INFO(tcp["keepalive_races"].dump(2));
  size_t in_ns = 0;
  for (const auto &r : tcp["keepalive_races"]) {
    if (r.value("netns", 0ULL) != ns.inode()) continue;
    in_ns++;
    CHECK(r.value("dport", 0) == kPort);
    CHECK(r.value("pid", 0) == client.pid());
    CHECK(r.value("comm", "") == "tcp-ka-client");
    CHECK(r.value("idle_ms", 0ULL) >= 900);
    CHECK(r.value("idle_ms", 0ULL) <= 1200);
    CHECK(r.value("peer_idle_close_ms", 0ULL) >= 900);
    CHECK(r.value("peer_idle_close_ms", 0ULL) <= 1200);
  }
  std::printf("keep-alive races: report %zu, client saw %d failed reuses, TcpEstabResets delta %llu\n", in_ns,
              client_saw, static_cast<unsigned long long>(estab_resets));
  CHECK(in_ns > 0);
  CHECK(estab_resets >= in_ns);  // every race is a reset the kernel counted
  CHECK(in_ns == static_cast<size_t>(client_saw));

  const auto *finding = tcplive::find_finding(report, "keepalive-race");
  REQUIRE(finding != nullptr);
  INFO(finding->dump(2));
  CHECK(finding->at("evidence").value("count", 0ULL) == in_ns);
  CHECK(finding->at("evidence").value("target", "") == "127.0.0.1:" + std::to_string(kPort));
  CHECK(tcplive::find_finding(report, "read-timeout") == nullptr);
}

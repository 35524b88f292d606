// Live: a client whose read timeout (1 s) is shorter than the server's processing time (3 s).
// The client sends its request, waits 1 s, closes with the request unanswered; the server's late
// answer reaches the closed end and is reset. The report's tcp.read_timeouts must name that flow
// with a timeout near 1 s and the client's pid, with a read-timeout finding, and the namespace's
// own counters must show the reset went out (TcpOutRsts).
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <poll.h>
#include <sys/wait.h>

#include <cstdio>

#include "live_support.h"
#include "tcp_live.h"

namespace {

constexpr uint16_t kPort = 9300;

}  // namespace

TEST_CASE("tcp: a read timeout shorter than the server's processing is recognised") {
  live::require_tool("ip");
  tcplive::NetNs ns("triage-tcp-rt");
  live::TempDir dir;
  std::string db = dir.file("tcp.db");
  live::Recording rec(db, {"-d", "7", "--probes", "tcp"});
  REQUIRE(rec.wait_attached());
  auto before = ns.counters();

  live::Child server("tcp-rt-server", [&] {
    ns.enter();
    int lfd = tcplive::listen_on("127.0.0.1", kPort, 16);
    int fd = ::accept(lfd, nullptr, nullptr);
    char buf[256];
    if (::read(fd, buf, sizeof buf) <= 0) std::_Exit(93);
    live::sleep_s(3.0);  // "processing"
    const char answer[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    ::write(fd, answer, sizeof answer - 1);  // reaches a closed end: answered by a reset
    live::sleep_s(0.5);
    for (;;) ::pause();
  });
  live::sleep_s(0.3);
  live::Child client("tcp-rt-client", [&] {
    ns.enter();
    sockaddr_in sa = tcplive::ipv4("127.0.0.1", kPort);
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    if (::connect(fd, reinterpret_cast<sockaddr *>(&sa), sizeof sa) != 0) std::_Exit(92);
    const char request[] = "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n";
    ::write(fd, request, sizeof request - 1);
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 1000) != 0) std::_Exit(94);  // the read timeout: nothing came back in 1 s
    ::close(fd);
  });
  int status = 0;
  ::waitpid(client.pid(), &status, 0);
  REQUIRE(WIFEXITED(status));
  REQUIRE(WEXITSTATUS(status) == 0);
  REQUIRE(rec.wait() == 0);
  auto after = ns.counters();
  uint64_t out_rsts = tcplive::delta(before, after, "TcpOutRsts");

  auto report = live::report_json(db);
  const auto &tcp = report["tcp"];
  REQUIRE(tcp.is_object());
  INFO(tcp["read_timeouts"].dump(2));
  INFO(tcp["resets"].dump(2));
  const nlohmann::json *row = nullptr;
  size_t in_ns = 0;
  for (const auto &r : tcp["read_timeouts"])
    if (r.value("netns", 0ULL) == ns.inode() && r.value("dport", 0) == kPort) row = &r, in_ns++;
  std::printf("read_timeouts in the namespace: %zu; TcpOutRsts delta %llu\n", in_ns,
              static_cast<unsigned long long>(out_rsts));
  REQUIRE(row != nullptr);
  std::printf("timeout_ms %llu late_by_ms %llu pid %llu comm %s\n", row->value("timeout_ms", 0ULL),
              row->value("late_by_ms", 0ULL), row->value("pid", 0ULL), row->value("comm", "").c_str());
  CHECK(in_ns == 1);
  CHECK(row->value("timeout_ms", 0ULL) >= 800);
  CHECK(row->value("timeout_ms", 0ULL) <= 1300);
  CHECK(row->value("late_by_ms", 0ULL) >= 1500);  // the answer left ~3 s after the request
  CHECK(row->value("late_by_ms", 0ULL) <= 2700);
  CHECK(row->value("saddr", "") == "127.0.0.1");
  CHECK(row->value("pid", 0) == client.pid());
  CHECK(row->value("comm", "") == "tcp-rt-client");
  CHECK(out_rsts >= 1);  // the kernel did send the reset

  const auto *finding = tcplive::find_finding(report, "read-timeout");
  REQUIRE(finding != nullptr);
  INFO(finding->dump(2));
  CHECK(finding->at("evidence").value("target", "") == "127.0.0.1:" + std::to_string(kPort));
  CHECK(finding->at("evidence").value("min_safe_read_timeout_ms", 0ULL) >= 3000);
  CHECK(tcplive::find_finding(report, "keepalive-race") == nullptr);
}

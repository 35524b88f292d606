// Live: a server that never closes the connections its clients closed. At the window's end the
// report's CLOSE_WAIT list must hold exactly what `ss -tan state close-wait` shows in that
// namespace, each owned by the server's pid, aged from the client's close, with a
// close-wait-leak finding; the transitions must show the client as the active closer.
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <sys/wait.h>

#include <chrono>
#include <cstdio>
#include <vector>

#include "live_support.h"
#include "tcp_live.h"

namespace {

constexpr uint16_t kPort = 9200;
constexpr int kConnections = 5;

double monotonic_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

}  // namespace

TEST_CASE("tcp: CLOSE_WAIT sockets are tied to the process that leaks them") {
  live::require_tool("ip");
  live::require_tool("ss");
  tcplive::NetNs ns("triage-tcp-cw");
  live::TempDir dir;
  std::string db = dir.file("tcp.db");
  live::Recording rec(db, {"-d", "7", "--probes", "tcp"});
  REQUIRE(rec.wait_attached());

  live::Child server("tcp-cw-server", [&] {
    ns.enter();
    int lfd = tcplive::listen_on("127.0.0.1", kPort, 16);
    std::vector<int> held;
    for (int i = 0; i < kConnections; i++) held.push_back(::accept(lfd, nullptr, nullptr));
    for (;;) ::pause();  // holds every accepted socket and never closes one
  });
  live::sleep_s(0.3);
  live::Child client("tcp-cw-client", [&] {
    ns.enter();
    sockaddr_in sa = tcplive::ipv4("127.0.0.1", kPort);
    std::vector<int> fds;
    for (int i = 0; i < kConnections; i++) {
      int fd = ::socket(AF_INET, SOCK_STREAM, 0);
      if (::connect(fd, reinterpret_cast<sockaddr *>(&sa), sizeof sa) != 0) std::_Exit(92);
      fds.push_back(fd);
    }
    live::sleep_s(0.3);
    for (int fd : fds) ::close(fd);  // the client closes first: the server's ends go CLOSE_WAIT
  });
  int status = 0;
  ::waitpid(client.pid(), &status, 0);
  REQUIRE(WIFEXITED(status));
  REQUIRE(WEXITSTATUS(status) == 0);
  REQUIRE(rec.wait() == 0);
  auto ss = live::run({"ip", "netns", "exec", ns.name(), "ss", "-Htan", "state", "close-wait"});
  size_t ss_count = 0;
  for (char c : ss.out) ss_count += c == '\n';

  auto report = live::report_json(db);
  const auto &tcp = report["tcp"];
  REQUIRE(tcp.is_object());
  size_t in_ns = 0;
  INFO(tcp["close_wait"].dump(2));
  for (const auto &cw : tcp["close_wait"]) {
    if (cw.value("netns", 0ULL) != ns.inode()) continue;
    in_ns++;
    CHECK(cw.value("pid", 0) == server.pid());
    CHECK(cw.value("comm", "") == "tcp-cw-server");
    CHECK(cw.value("lport", 0) == kPort);
    CHECK(cw.value("age_exact", false));
    CHECK(cw.value("age_ms", 0ULL) >= 3000);  // closed ~1 s into a 7 s window
  }
  std::printf("close_wait: report %zu in the namespace, ss -tan state close-wait %zu\n", in_ns, ss_count);
  CHECK(ss_count == kConnections);
  CHECK(in_ns == ss_count);

  bool server_passive = false, client_active = false;
  for (const auto &p : tcp["by_port"]) {
    if (p.value("port", 0) != kPort || p.value("netns", 0ULL) != ns.inode()) continue;
    if (p.value("role", "") == "server") server_passive = p.value("passive_closes", 0ULL) == kConnections;
    if (p.value("role", "") == "client") client_active = p.value("active_closes", 0ULL) == kConnections;
  }
  INFO(tcp["by_port"].dump(2));
  CHECK(server_passive);
  CHECK(client_active);
  bool saw_close_wait = false;
  for (const auto &t : tcp["transitions"])
    saw_close_wait |= t.value("from", "") == "TCP_ESTABLISHED" && t.value("to", "") == "TCP_CLOSE_WAIT";
  CHECK(saw_close_wait);

  const auto *finding = tcplive::find_finding(report, "close-wait-leak");
  REQUIRE(finding != nullptr);
  CHECK(finding->at("evidence").value("pid", 0) == server.pid());
  CHECK(finding->at("evidence").value("count", 0) == kConnections);
}

// A leak that began before the window: no transition of it is ever seen, so its age can only come
// from the kernel (the stamp of the FIN's ACK, tcpi_last_ack_recv). It must be the time since the
// client's close, not the window's length.
TEST_CASE("tcp: a CLOSE_WAIT socket from before the window is aged from the kernel's stamp") {
  live::require_tool("ip");
  tcplive::NetNs ns("triage-tcp-cw-old");
  live::TempDir dir;
  std::string db = dir.file("tcp.db");
  constexpr double kBeforeWindow = 2.0, kWindow = 3.0;

  live::Child server("tcp-cw-server", [&] {
    ns.enter();
    int lfd = tcplive::listen_on("127.0.0.1", kPort, 16);
    int held = ::accept(lfd, nullptr, nullptr);
    (void)held;
    for (;;) ::pause();
  });
  live::sleep_s(0.3);
  double before_close = monotonic_s();
  live::Child client("tcp-cw-client", [&] {
    ns.enter();
    sockaddr_in sa = tcplive::ipv4("127.0.0.1", kPort);
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    if (::connect(fd, reinterpret_cast<sockaddr *>(&sa), sizeof sa) != 0) std::_Exit(92);
    ::close(fd);
  });
  int status = 0;
  ::waitpid(client.pid(), &status, 0);
  REQUIRE(WIFEXITED(status));
  REQUIRE(WEXITSTATUS(status) == 0);
  double after_close = monotonic_s();
  live::sleep_s(kBeforeWindow);

  live::Recording rec(db, {"-d", std::to_string(kWindow), "--probes", "tcp"});
  REQUIRE(rec.wait_attached());
  REQUIRE(rec.wait() == 0);
  double done = monotonic_s();

  auto report = live::report_json(db);
  const auto &tcp = report["tcp"];
  REQUIRE(tcp.is_object());
  INFO(tcp["close_wait"].dump(2));
  size_t in_ns = 0;
  for (const auto &cw : tcp["close_wait"]) {
    if (cw.value("netns", 0ULL) != ns.inode()) continue;
    in_ns++;
    CHECK(cw.value("age_exact", false));
    // The last sample is taken after the window's full length and before the recorder exits.
    double age_s = cw.value("age_ms", 0ULL) / 1000.0;
    CHECK(age_s >= kBeforeWindow + kWindow - (after_close - before_close) - 0.1);
    CHECK(age_s <= done - before_close + 0.1);
  }
  CHECK(in_ns == 1);
}

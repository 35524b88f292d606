// Live: a server that closes first after answering each request. TIME_WAIT (which never shows in
// inet_sock_set_state) must be counted on the server side from socket snapshots, equal to
// `ss -tan state time-wait` in that namespace, and time-wait-churn must say the server closes first.
// 1200 of them also take the snapshots past the point where TIME_WAIT is listed only every 5 s.
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <sys/wait.h>

#include <cstdio>

#include "live_support.h"
#include "tcp_live.h"

namespace {

constexpr uint16_t kPort = 9300;
constexpr int kRequests = 1200;  // above the finding's 1000 TIME_WAIT sockets

}  // namespace

TEST_CASE("tcp: TIME_WAIT sits on the side that closes first") {
  live::require_tool("ip");
  live::require_tool("ss");
  tcplive::NetNs ns("triage-tcp-tw");
  live::TempDir dir;
  std::string db = dir.file("tcp.db");
  live::Recording rec(db, {"-d", "8", "--probes", "tcp"});
  REQUIRE(rec.wait_attached());

  live::Child server("tcp-tw-server", [&] {
    ns.enter();
    int lfd = tcplive::listen_on("127.0.0.1", kPort, 128);
    for (;;) {
      int fd = ::accept(lfd, nullptr, nullptr);
      char buf[16];
      if (::read(fd, buf, sizeof buf) > 0) (void)!::write(fd, "ok", 2);
      ::close(fd);  // the server closes first
    }
  });
  live::sleep_s(0.3);
  live::Child client("tcp-tw-client", [&] {
    ns.enter();
    sockaddr_in sa = tcplive::ipv4("127.0.0.1", kPort);
    for (int i = 0; i < kRequests; i++) {
      int fd = ::socket(AF_INET, SOCK_STREAM, 0);
      if (::connect(fd, reinterpret_cast<sockaddr *>(&sa), sizeof sa) != 0) std::_Exit(92);
      (void)!::write(fd, "q", 1);
      char buf[16];
      while (::read(fd, buf, sizeof buf) > 0) {
      }
      ::close(fd);  // after the server's FIN: the client's end goes through CLOSE_WAIT/LAST_ACK
    }
  });
  int status = 0;
  ::waitpid(client.pid(), &status, 0);
  REQUIRE(WIFEXITED(status));
  REQUIRE(WEXITSTATUS(status) == 0);
  REQUIRE(rec.wait() == 0);
  auto ss = live::run({"ip", "netns", "exec", ns.name(), "ss", "-Htan", "state", "time-wait"});
  size_t ss_count = 0;
  for (char c : ss.out) ss_count += c == '\n';

  auto report = live::report_json(db);
  const auto &tw = report["tcp"]["time_wait"];
  INFO(tw.dump(2));
  uint64_t server_side = 0, client_side = 0;
  for (const auto &p : tw["by_port"]) {
    if (p.value("netns", 0ULL) != ns.inode() || p.value("port", 0) != kPort) continue;
    (p.value("side", "") == "server" ? server_side : client_side) += p.value("count", 0ULL);
  }
  std::printf("time_wait: report %llu on the server side (%llu client side), ss -tan state time-wait %zu\n",
              static_cast<unsigned long long>(server_side), static_cast<unsigned long long>(client_side), ss_count);
  // The kernel's own count is the reference. Once, in a CI run of the sanitized build, it held
  // 1168 of the 1200 (triage counted the same 1168); what ended the others is not known yet, so
  // the namespace's TIME_WAIT and reset counters go with a failure.
  std::string tw_counters;
  for (const auto &[key, value] : ns.counters())
    if (key.find("TW") != std::string::npos || key.find("TimeWait") != std::string::npos ||
        key.find("Rst") != std::string::npos || key.find("Reset") != std::string::npos)
      tw_counters += key + "=" + std::to_string(value) + " ";
  INFO("namespace counters: " << tw_counters);
  CHECK(ss_count <= static_cast<size_t>(kRequests));
  CHECK(ss_count > 1000);  // still a storm past the point where TIME_WAIT is listed every 5 s only
  CHECK(server_side == ss_count);
  CHECK(client_side == 0);
  CHECK(tw.value("active_closer", "") == "server");
  // Every socket of the storm got its per-socket entry (run-time allocated on kernels with
  // bpf_mem_alloc): a failed insert would show here before it skewed a count.
  CHECK(report["tcp"].value("untracked_sockets", 1ULL) == 0);

  // Past 1000 TIME_WAIT sockets they are listed every 5 s and counted from sockstat in between:
  // once the storm is in the series it must stay there (TIME_WAIT lasts 60 s), whichever source.
  const auto &series = report["tcp"]["socket_series"];
  INFO(series.dump());
  bool reached = false;
  size_t after = 0;
  for (const auto &row : series) {
    uint64_t count = row.value("time_wait", 0ULL);
    if (reached) {
      CHECK(count >= ss_count);
      after++;
    }
    reached = reached || count >= ss_count;
  }
  CHECK(reached);
  CHECK(after >= 3);

  bool server_active = false;
  for (const auto &p : report["tcp"]["by_port"])
    if (p.value("port", 0) == kPort && p.value("netns", 0ULL) == ns.inode() && p.value("role", "") == "server")
      server_active = p.value("active_closes", 0ULL) == kRequests;
  INFO(report["tcp"]["by_port"].dump(2));
  CHECK(server_active);

  const auto *finding = tcplive::find_finding(report, "time-wait-churn");
  REQUIRE(finding != nullptr);
  CHECK(finding->value("title", "").find("the server closes first") != std::string::npos);
}

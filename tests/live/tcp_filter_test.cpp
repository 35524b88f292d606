// Live: -p with the TCP family. Two client processes connect to one server (a third process) in
// a throw-away namespace; recording with -p of the first must show only its connections: its
// connects in the transitions and the connect-latency histogram, no server-side transitions
// (those run in the client's context on loopback, but belong to the server) and none of the
// other client's.
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <cstdio>
#include <vector>

#include "live_support.h"
#include "tcp_live.h"

namespace {

constexpr uint16_t kPort = 9320;
constexpr int kTracedConnections = 4;
constexpr int kOtherConnections = 7;

uint64_t transitions(const nlohmann::json &tcp, const char *from, const char *to) {
  for (const auto &t : tcp["transitions"])
    if (t.value("from", "") == from && t.value("to", "") == to) return t.value("count", 0ULL);
  return 0;
}

void connect_n(const tcplive::NetNs &ns, const std::string &go, int n) {
  ns.enter();
  struct stat st {};
  while (::stat(go.c_str(), &st) != 0) live::sleep_s(0.02);
  sockaddr_in sa = tcplive::ipv4("127.0.0.1", kPort);
  std::vector<int> fds;
  for (int i = 0; i < n; i++) {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    if (::connect(fd, reinterpret_cast<sockaddr *>(&sa), sizeof sa) != 0) std::_Exit(92);
    fds.push_back(fd);
  }
  live::sleep_s(0.2);
  for (int fd : fds) ::close(fd);
}

}  // namespace

TEST_CASE("tcp: -p keeps only the connections of that process") {
  live::require_tool("ip");
  tcplive::NetNs ns("triage-tcp-pid");
  live::TempDir dir;
  std::string db = dir.file("tcp.db"), go = dir.file("go");

  live::Child server("tcp-pid-server", [&] {
    ns.enter();
    int lfd = tcplive::listen_on("127.0.0.1", kPort, 64);
    std::vector<int> held;
    for (;;) held.push_back(::accept(lfd, nullptr, nullptr));
  });
  live::Child traced("tcp-pid-traced", [&] { connect_n(ns, go, kTracedConnections); });
  live::Child other("tcp-pid-other", [&] { connect_n(ns, go, kOtherConnections); });
  live::Recording rec(db, {"-d", "4", "--probes", "tcp", "-p", std::to_string(traced.pid())});
  REQUIRE(rec.wait_attached());
  live::run({"touch", go});
  for (pid_t pid : {traced.pid(), other.pid()}) {
    int status = 0;
    ::waitpid(pid, &status, 0);
    REQUIRE(WIFEXITED(status));
    REQUIRE(WEXITSTATUS(status) == 0);
  }
  REQUIRE(rec.wait() == 0);

  auto report = live::report_json(db);
  const auto &tcp = report["tcp"];
  REQUIRE(tcp.is_object());
  INFO(tcp["transitions"].dump(2));
  INFO(tcp["by_port"].dump(2));
  uint64_t syn_sent = transitions(tcp, "TCP_CLOSE", "TCP_SYN_SENT");
  uint64_t established = transitions(tcp, "TCP_SYN_SENT", "TCP_ESTABLISHED");
  uint64_t syn_recv = transitions(tcp, "TCP_LISTEN", "TCP_SYN_RECV");
  uint64_t connects = tcp["connect_latency"].value("count", 0ULL);
  std::printf("-p %d: CLOSE->SYN_SENT %llu, SYN_SENT->ESTABLISHED %llu, LISTEN->SYN_RECV %llu, connect latency count "
              "%llu (traced process made %d, the other %d)\n",
              traced.pid(), static_cast<unsigned long long>(syn_sent), static_cast<unsigned long long>(established),
              static_cast<unsigned long long>(syn_recv), static_cast<unsigned long long>(connects), kTracedConnections,
              kOtherConnections);
  CHECK(syn_sent == kTracedConnections);
  CHECK(established == kTracedConnections);
  CHECK(syn_recv == 0);  // the server's children belong to the server
  CHECK(connects == kTracedConnections);
  for (const auto &p : tcp["by_port"]) {
    CHECK(p.value("netns", 0ULL) == ns.inode());
    CHECK(p.value("role", "") == "client");
    CHECK(p.value("opens", 0ULL) == kTracedConnections);
  }
}

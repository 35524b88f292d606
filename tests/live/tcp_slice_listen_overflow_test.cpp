// Live (issue #20): a network namespace and a listener in it, both born 3 s after the window
// started, then flooded past its backlog. The listener's overflows must equal that namespace's
// ListenOverflows delta as /proc/net/netstat inside it shows, with nothing left unattributed, and
// the listen-overflow finding must say when (first_t after the listener was born). Split into
// slices, the per-listener counts add up to the same delta.
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <fcntl.h>
#include <sys/wait.h>

#include <chrono>
#include <cstdio>
#include <memory>
#include <vector>

#include "live_support.h"
#include "tcp_live.h"

namespace {

constexpr uint16_t kPort = 9130;
constexpr int kBacklog = 2;
constexpr int kClients = 24;
constexpr double kWindow = 14, kBornAfter = 3;

double monotonic_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

}  // namespace

TEST_CASE("tcp slices: a listener born in a namespace born inside the window owns all its overflows") {
  live::require_tool("ip");
  live::TempDir dir;
  std::string db = dir.file("tcp.db");
  live::Recording rec(db, {"-d", std::to_string(static_cast<int>(kWindow)), "--probes", "tcp"});
  REQUIRE(rec.wait_attached());
  const double window_start = monotonic_s();
  live::sleep_s(kBornAfter);
  auto ns = std::make_unique<tcplive::NetNs>("triage-tcp-slice-lo");
  const double born_t = monotonic_s() - window_start;
  // Counters of a namespace start at 0 when it is made: this reading is the whole history so far.
  auto before = ns->counters();
  CHECK(tcplive::delta({}, before, "ListenOverflows") == 0);

  int ready[2];
  REQUIRE(::pipe(ready) == 0);
  live::Child server("tcp-slice-srv", [&] {
    ns->enter();
    tcplive::listen_on("127.0.0.1", kPort, kBacklog);
    if (::write(ready[1], "r", 1) != 1) std::_Exit(93);
    for (;;) ::pause();  // never accept()
  });
  char byte;
  REQUIRE(::read(ready[0], &byte, 1) == 1);
  // Flooded at once: the first overflows come before any sample has seen the listener.
  live::Child client("tcp-slice-cli", [&] {
    ns->enter();
    std::vector<int> fds;
    sockaddr_in sa = tcplive::ipv4("127.0.0.1", kPort);
    for (int i = 0; i < kClients; i++) {
      int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
      ::connect(fd, reinterpret_cast<sockaddr *>(&sa), sizeof sa);
      fds.push_back(fd);
    }
    live::sleep_s(3.5);  // the first SYN retransmits (1 s, 3 s) overflow again
    for (int fd : fds) tcplive::abort_close(fd);
  });
  int status = 0;
  ::waitpid(client.pid(), &status, 0);
  REQUIRE(rec.wait() == 0);
  auto after = ns->counters();
  const uint64_t overflows = tcplive::delta(before, after, "ListenOverflows");
  INFO("the namespace's ListenOverflows rose by " << overflows);
  REQUIRE(overflows > 0);

  auto report = live::report_json(db);
  const auto &tcp = report["tcp"];
  REQUIRE(tcp.is_object());
  INFO(tcp["listeners"].dump(2));
  INFO(tcp["netstat"].dump(2));
  const nlohmann::json *listener = nullptr;
  for (const auto &l : tcp["listeners"])
    if (l.value("port", 0) == kPort && l.value("netns", 0ULL) == ns->inode()) listener = &l;
  REQUIRE(listener != nullptr);
  CHECK(listener->value("pid", 0) == server.pid());
  CHECK(listener->value("comm", "") == "tcp-slice-srv");
  CHECK(listener->value("backlog_max", 0) == kBacklog);
  CHECK(listener->value("overflows", 0ULL) == overflows);
  const nlohmann::json *netstat = nullptr;
  for (const auto &n : tcp["netstat"])
    if (n.value("netns", 0ULL) == ns->inode()) netstat = &n;
  REQUIRE(netstat != nullptr);
  CHECK(netstat->at("delta").value("ListenOverflows", 0ULL) == overflows);
  CHECK(netstat->value("unattributed_overflows", 1ULL) == 0);

  const nlohmann::json *finding = nullptr;
  for (const auto &f : report["findings"])
    if (f.value("id", "") == "listen-overflow" && f["evidence"].value("netns", 0ULL) == ns->inode()) finding = &f;
  REQUIRE(finding != nullptr);
  CHECK(finding->at("evidence").value("overflows", 0ULL) == overflows);
  double first_t = finding->value("first_t", -1.0);
  CHECK(first_t >= born_t);
  CHECK(finding->value("last_t", -1.0) >= first_t);
  std::printf("born at %.2f s: listener overflows %llu, namespace ListenOverflows delta %llu, first_t %.2f last_t %.2f\n",
              born_t, static_cast<unsigned long long>(listener->value("overflows", 0ULL)),
              static_cast<unsigned long long>(overflows), first_t, finding->value("last_t", -1.0));

  // Consecutive slices split the counts exactly.
  uint64_t summed = 0, summed_netns = 0;
  for (auto [from, to] : {std::pair{"0", "5"}, std::pair{"5", "7"}, std::pair{"7", "30"}}) {
    auto slice = live::report_json(db, {"--from", from, "--to", to});
    for (const auto &l : slice["tcp"]["listeners"])
      if (l.value("port", 0) == kPort && l.value("netns", 0ULL) == ns->inode()) summed += l.value("overflows", 0ULL);
    for (const auto &n : slice["tcp"]["netstat"])
      if (n.value("netns", 0ULL) == ns->inode()) summed_netns += n["delta"].value("ListenOverflows", 0ULL);
  }
  CHECK(summed == overflows);
  CHECK(summed_netns == overflows);
}

// Live: network namespaces created and destroyed inside the window, with connections in them (on
// their own loopback). A namespace that disappears, and a new one that may get its inode back with
// counters starting again at 0, must not make a rate or counter delta wrap: no rate_series value
// above what the test's connections can have caused, no wrapped number anywhere in the report, and
// per-namespace netstat deltas no larger than the connections made.
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <algorithm>
#include <cstdio>
#include <functional>
#include <memory>
#include <set>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "live_support.h"
#include "tcp_live.h"

namespace {

constexpr uint16_t kPort = 9410;
constexpr int kConnections[] = {12, 5, 9};  // per namespace, one after the other
// Set_state transitions one loopback connection can cause, both ends, closed with a reset:
// CLOSE->SYN_SENT->ESTABLISHED->CLOSE on the client, the request socket, SYN_RECV->ESTABLISHED->
// CLOSE on the server; rounded up generously. Plus the listener's CLOSE->LISTEN->CLOSE.
constexpr uint64_t kTransitionsPerConnection = 8;
constexpr uint64_t kTransitionsPerListener = 2;

bool exists(const std::string &path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

void wait_for(const std::string &path) {
  for (int i = 0; i < 1000 && !exists(path); i++) live::sleep_s(0.01);  // 10 s at most
}

// In the child: one round inside the namespace at `path`, then back home so that the namespace
// can go away once the parent deletes it.
void connect_and_close(const std::string &path, int home_fd, int connections) {
  int ns_fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (ns_fd < 0 || ::setns(ns_fd, CLONE_NEWNET) != 0) std::_Exit(90);
  ::close(ns_fd);
  int listener = tcplive::listen_on("127.0.0.1", kPort, 64);
  sockaddr_in sa = tcplive::ipv4("127.0.0.1", kPort);
  std::vector<int> clients, accepted;
  for (int i = 0; i < connections; i++) {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    if (::connect(fd, reinterpret_cast<sockaddr *>(&sa), sizeof sa) != 0) std::_Exit(92);
    clients.push_back(fd);
    accepted.push_back(::accept(listener, nullptr, nullptr));
  }
  // Resets on both sides: no TIME_WAIT or FIN_WAIT socket keeps the namespace alive.
  for (int fd : clients) tcplive::abort_close(fd);
  for (int fd : accepted) tcplive::abort_close(fd);
  ::close(listener);
  if (::setns(home_fd, CLONE_NEWNET) != 0) std::_Exit(93);
}

// Paths of every number in `j` that looks like a wrapped unsigned (a negative delta stored
// unsigned: within 2^62 of 2^64).
void find_wrapped(const nlohmann::json &j, const std::string &path, std::vector<std::string> &out) {
  if (j.is_number_unsigned() && j.get<uint64_t>() > (1ULL << 62)) out.push_back(path + " = " + j.dump());
  if (j.is_object())
    for (const auto &[key, value] : j.items()) find_wrapped(value, path + "." + key, out);
  if (j.is_array())
    for (size_t i = 0; i < j.size(); i++) find_wrapped(j[i], path + "[" + std::to_string(i) + "]", out);
}

}  // namespace

TEST_CASE("tcp: a namespace created and destroyed in the window makes no wrapped or inflated count") {
  live::require_tool("ip");
  live::TempDir dir;
  std::string db = dir.file("tcp.db");
  const int rounds = static_cast<int>(std::size(kConnections));
  uint64_t connections = 0;
  for (int n : kConnections) connections += n;

  // One process makes every connection, so -p keeps the rate series to the test's own traffic.
  // tcplive::NetNs names a namespace "<prefix>-<pid of this test>": the worker knows the paths.
  auto prefix = [](int round) { return "triage-tcp-gone" + std::to_string(round); };
  auto path_of = [&](int round) { return "/run/netns/" + prefix(round) + "-" + std::to_string(::getpid()); };
  std::vector<std::string> paths;
  for (int i = 0; i < rounds; i++) paths.push_back(path_of(i));
  live::Child worker("tcp-gone-worker", [&] {
    int home = ::open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
    for (int i = 0; i < rounds; i++) {
      std::string go = dir.file("go" + std::to_string(i));
      wait_for(go);
      if (!exists(go)) std::_Exit(91);
      connect_and_close(paths[i], home, kConnections[i]);
      live::run({"touch", dir.file("done" + std::to_string(i))});
    }
    std::_Exit(0);
  });
  live::Recording rec(db, {"-d", "11", "--probes", "tcp", "-p", std::to_string(worker.pid())});
  REQUIRE(rec.wait_attached());
  live::sleep_s(1.2);

  std::set<uint64_t> inodes;
  bool inode_reused = false;
  for (int i = 0; i < rounds; i++) {
    auto ns = std::make_unique<tcplive::NetNs>(prefix(i));
    REQUIRE(ns->inode() != 0);
    inode_reused |= !inodes.insert(ns->inode()).second;
    live::sleep_s(1.2);  // a sample sees the namespace before its connections, one after
    live::run({"touch", dir.file("go" + std::to_string(i))});
    wait_for(dir.file("done" + std::to_string(i)));
    REQUIRE(exists(dir.file("done" + std::to_string(i))));
    live::sleep_s(1.2);
    ns.reset();  // ip netns del: gone inside the window
    live::sleep_s(0.3);
  }
  int status = 0;
  ::waitpid(worker.pid(), &status, 0);
  REQUIRE(WIFEXITED(status));
  REQUIRE(WEXITSTATUS(status) == 0);
  REQUIRE(rec.wait() == 0);

  auto report = live::report_json(db);
  const auto &tcp = report["tcp"];
  REQUIRE(tcp.is_object());

  std::vector<std::string> wrapped;
  find_wrapped(report, "report", wrapped);
  INFO("wrapped values:\n" << fmt::format("{}", fmt::join(wrapped, "\n")));
  CHECK(wrapped.empty());

  const uint64_t transitions_bound = connections * kTransitionsPerConnection + rounds * kTransitionsPerListener;
  uint64_t matrix_total = 0;
  for (const auto &t : tcp["transitions"]) matrix_total += t.value("count", 0ULL);
  uint64_t series_total = 0, series_max = 0;
  INFO(tcp["rate_series"].dump());
  for (const auto &row : tcp["rate_series"]) {
    uint64_t transitions = row.value("transitions", 0ULL);
    series_total += transitions;
    series_max = std::max(series_max, transitions);
    CHECK(transitions <= transitions_bound);
    CHECK(row.value("resets_sent", 0ULL) <= 2 * connections);
    CHECK(row.value("resets_received", 0ULL) <= 2 * connections);
    CHECK(row.value("retrans_segs", 0ULL) <= connections);
    CHECK(row.value("syn_retrans", 0ULL) <= connections);
  }
  // The series are the interval deltas of the counters the matrix totals, and the worker was done
  // well before the window's end: they add up to it exactly (a wrap, or deltas read as 0, would not).
  CHECK(series_total == matrix_total);
  CHECK(matrix_total <= transitions_bound);
  CHECK(matrix_total >= 3 * connections);  // each client's three were seen: the test did record them

  // The namespaces' own counters: deltas summed per namespace inode, never above what was made.
  uint64_t active_opens = 0, passive_opens = 0;
  INFO(tcp["netstat"].dump(2));
  for (const auto &ns : tcp["netstat"]) {
    if (!inodes.count(ns.value("netns", 0ULL))) continue;
    active_opens += ns["delta"].value("TcpActiveOpens", 0ULL);
    passive_opens += ns["delta"].value("TcpPassiveOpens", 0ULL);
  }
  CHECK(active_opens <= connections);
  CHECK(passive_opens <= connections);
  REQUIRE(tcp.contains("counter_resets"));
  // A namespace that got a gone one's inode starts its counters lower than the last read of the
  // old one: that is a reset, counted, not a wrap.
  if (inode_reused) CHECK(tcp["counter_resets"].get<uint64_t>() >= 1);
  std::printf("netns gone: %d namespaces (%zu distinct inodes), %llu connections; transitions matrix %llu, rate series "
              "sum %llu, largest interval %llu (bound %llu); netstat TcpActiveOpens %llu TcpPassiveOpens %llu; "
              "counter_resets %llu\n",
              rounds, inodes.size(), static_cast<unsigned long long>(connections),
              static_cast<unsigned long long>(matrix_total), static_cast<unsigned long long>(series_total),
              static_cast<unsigned long long>(series_max), static_cast<unsigned long long>(transitions_bound),
              static_cast<unsigned long long>(active_opens), static_cast<unsigned long long>(passive_opens),
              static_cast<unsigned long long>(tcp["counter_resets"].get<uint64_t>()));
}

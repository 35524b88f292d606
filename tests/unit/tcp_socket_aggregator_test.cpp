// The tcp family's socket rows (tcp_socket_aggregator.h) from synthetic namespace snapshots: what
// the sampler would have read from sock_diag and /proc/net, interval by interval, with no kernel.
#include <catch2/catch.hpp>
#include <fmt/format.h>

#include <array>
#include <map>
#include <string>
#include <vector>

#include "core/counter_delta.h"
#include "tcp/tcp_abi.h"
#include "tcp/tcp_socket_aggregator.h"

using namespace triage;
using namespace triage::tcp;

namespace {

constexpr uint64_t kSecond = 1'000'000'000ULL;
constexpr uint64_t kStart = 1'000 * kSecond;  // the window's start
constexpr uint32_t kHost = 4026531840u;       // two namespace inodes
constexpr uint32_t kContainer = 4026532500u;

DiagSocket listener(const char *addr, uint16_t port, uint32_t queued, uint32_t backlog, uint64_t inode) {
  return {.state = TCP_ST_LISTEN, .laddr = addr, .lport = port, .rqueue = queued, .wqueue = backlog, .inode = inode};
}

DiagSocket connection(int state, const char *laddr, uint16_t lport, const char *raddr, uint16_t rport,
                      uint64_t inode = 0, int64_t last_ack_recv_ms = -1) {
  return {.state = state, .laddr = laddr, .raddr = raddr, .lport = lport, .rport = rport, .inode = inode,
          .last_ack_recv_ms = last_ack_recv_ms};
}

// A namespace read in full: listeners, and a connection walk with its TIME_WAIT listing.
NetnsSnapshot netns(uint32_t inode, std::map<std::string, uint64_t> counters, std::vector<DiagSocket> sockets = {}) {
  NetnsSnapshot ns;
  ns.inode = inode;
  ns.pid = 1;
  ns.counters = std::move(counters);
  ns.sockets = std::move(sockets);
  ns.connections_walked = ns.time_wait_listed = ns.one_request = true;
  for (const auto &s : ns.sockets) ns.time_wait_count += s.state == TCP_ST_TIME_WAIT;
  return ns;
}

// The aggregator with a process table for its owner lookups, which it records.
struct Harness {
  std::map<uint64_t, SocketOwner> processes;
  std::vector<std::vector<uint64_t>> lookups;
  SocketAggregator aggregator{kStart, [this](const std::vector<uint64_t> &inodes) {
                                lookups.push_back(inodes);
                                std::unordered_map<uint64_t, SocketOwner> found;
                                for (uint64_t inode : inodes)
                                  if (processes.count(inode)) found[inode] = processes.at(inode);
                                return found;
                              }};
  CounterDeltas deltas;
  ListenDrops drops;

  explicit Harness(std::vector<NetnsSnapshot> baseline = {netns(kHost, {})}) {
    std::string error;
    REQUIRE(aggregator.attach(baseline, kStart, 1'000'000, error));
    CHECK(error.empty());
  }
  // One interval ending `t_s` seconds into the window, walked (as the window's end is) unless
  // `walk` is false.
  SocketRows sample(double t_s, std::vector<NetnsSnapshot> namespaces, bool walk = true, bool last = false) {
    SocketInterval interval;
    interval.now_ns = at(t_s);
    interval.dt_s = 1.0;
    interval.full_interval = true;
    interval.last = last;
    interval.scope = {walk, walk};
    interval.namespaces = std::move(namespaces);
    return aggregator.sample(interval, drops, deltas);
  }
  static uint64_t at(double t_s) { return kStart + static_cast<uint64_t>(t_s * 1e9); }
};

const ListenerCountRow &counts_of(const SocketRows &rows, uint32_t netns, const std::string &addr, uint16_t port) {
  for (const auto &row : rows.listener_counts)
    if (row.netns == netns && row.addr == addr && row.port == port) return row;
  FAIL("no listener_counts row for " << netns << " " << addr << ":" << port);
  static ListenerCountRow none;
  return none;
}

// The gauge's order is not part of it (a reuseport group is found by pointer): by address and port.
const ListenerLevel &level_of(const SocketRows &rows, const std::string &addr, uint16_t port) {
  REQUIRE(rows.listeners);
  for (const auto &level : rows.listeners->listeners)
    if (level.addr == addr && level.port == port) return level;
  FAIL("no listener level for " << addr << ":" << port);
  static ListenerLevel none;
  return none;
}

const NetnsRow &netstat_of(const SocketRows &rows, uint32_t netns) {
  for (const auto &row : rows.netstat)
    if (row.netns == netns) return row;
  FAIL("no netstat row for " << netns);
  static NetnsRow none;
  return none;
}

// A namespace's ListenOverflows since attach, and what of it no listener was given: in all,
// because several were full at one sample, because none was there.
using Overflows = std::array<uint64_t, 4>;
Overflows overflows_of(const SocketRows &rows, uint32_t netns) {
  const NetnsRow &row = netstat_of(rows, netns);
  return {row.ListenOverflows, row.unattributed_overflows, row.overflows_several_full, row.overflows_no_listener};
}

}  // namespace

TEST_CASE("tcp sockets: a namespace's overflows go to its full listener, not the one with room") {
  Harness h({netns(kHost, {{"ListenOverflows", 100}, {"TcpOutSegs", 5000}})});
  h.processes[11] = {4242, "nginx"};
  // :80 holds more than its backlog (the kernel's refusal condition); :8080 has room.
  auto rows = h.sample(1, {netns(kHost, {{"ListenOverflows", 107}, {"TcpOutSegs", 5010}},
                                 {listener("0.0.0.0", 80, 129, 128, 11), listener("127.0.0.1", 8080, 3, 128, 12)})});

  CHECK(counts_of(rows, kHost, "0.0.0.0", 80).overflows == 7);
  CHECK(counts_of(rows, kHost, "127.0.0.1", 8080).overflows == 0);
  CHECK(overflows_of(rows, kHost) == Overflows{7, 0, 0, 0});  // the baseline of 100 is not counted
  CHECK(netstat_of(rows, kHost).TcpOutSegs == 10);

  REQUIRE(rows.listeners);
  CHECK(rows.listeners->listeners.size() == 2);
  CHECK(level_of(rows, "0.0.0.0", 80) == ListenerLevel{kHost, "", "0.0.0.0", 80, 129, 128, 0, true, 4242, "nginx"});
  CHECK(level_of(rows, "127.0.0.1", 8080) == ListenerLevel{kHost, "", "127.0.0.1", 8080, 3, 128, 0, false, 0, ""});
  // Each listener's owner is looked up once, together.
  CHECK(h.lookups == std::vector<std::vector<uint64_t>>{{11, 12}});

  // Both full at once: the delta cannot be split honestly and stays with the namespace. :80 was
  // full at the previous sample too, so the earlier evidence does not single it out either.
  rows = h.sample(2, {netns(kHost, {{"ListenOverflows", 111}, {"TcpOutSegs", 5010}},
                            {listener("0.0.0.0", 80, 129, 128, 11), listener("127.0.0.1", 8080, 128, 128, 12)})});
  CHECK(counts_of(rows, kHost, "0.0.0.0", 80).overflows == 7);
  CHECK(counts_of(rows, kHost, "127.0.0.1", 8080).overflows == 0);
  CHECK(overflows_of(rows, kHost) == Overflows{11, 4, 4, 0});
  CHECK(h.lookups.size() == 1);  // owners known: no second scan

  // kfree_skb saw the drops on :8080 only: that names it among the full ones.
  h.drops[{kHost, 8080}] = 2;
  rows = h.sample(3, {netns(kHost, {{"ListenOverflows", 113}, {"TcpOutSegs", 5010}},
                            {listener("0.0.0.0", 80, 129, 128, 11), listener("127.0.0.1", 8080, 128, 128, 12)})});
  CHECK(counts_of(rows, kHost, "127.0.0.1", 8080).overflows == 2);
  CHECK(counts_of(rows, kHost, "127.0.0.1", 8080).overflow_drops_seen == 2);
  CHECK(counts_of(rows, kHost, "0.0.0.0", 80).overflows == 7);
  CHECK(overflows_of(rows, kHost) == Overflows{13, 4, 4, 0});
}

TEST_CASE("tcp sockets: each namespace's overflows go to its own listeners, same port or not") {
  Harness h({netns(kHost, {{"ListenOverflows", 10}}), netns(kContainer, {{"ListenOverflows", 0}})});
  auto rows = h.sample(1, {netns(kHost, {{"ListenOverflows", 15}}, {listener("0.0.0.0", 80, 0, 128, 11)}),
                           netns(kContainer, {{"ListenOverflows", 3}}, {listener("0.0.0.0", 80, 0, 128, 21)})});
  // The only listener of each namespace is the last resort: not full, it still takes its own.
  CHECK(counts_of(rows, kHost, "0.0.0.0", 80).overflows == 5);
  CHECK(counts_of(rows, kContainer, "0.0.0.0", 80).overflows == 3);
  CHECK(overflows_of(rows, kHost) == Overflows{5, 0, 0, 0});
  CHECK(overflows_of(rows, kContainer) == Overflows{3, 0, 0, 0});

  // Drops seen by port in the container do not move the host's delta.
  h.drops[{kContainer, 80}] = 4;
  rows = h.sample(2, {netns(kHost, {{"ListenOverflows", 16}}, {listener("0.0.0.0", 80, 0, 128, 11)}),
                      netns(kContainer, {{"ListenOverflows", 7}}, {listener("0.0.0.0", 80, 0, 128, 21)})});
  CHECK(counts_of(rows, kHost, "0.0.0.0", 80).overflows == 6);
  CHECK(counts_of(rows, kHost, "0.0.0.0", 80).overflow_drops_seen == 0);
  CHECK(counts_of(rows, kContainer, "0.0.0.0", 80).overflows == 7);
  CHECK(counts_of(rows, kContainer, "0.0.0.0", 80).overflow_drops_seen == 4);
}

TEST_CASE("tcp sockets: a listener that comes and goes between snapshots keeps what it caused") {
  Harness h({netns(kHost, {{"ListenOverflows", 0}})});
  // No listener at all: the overflows of one that lived less than a sample.
  auto rows = h.sample(1, {netns(kHost, {{"ListenOverflows", 4}})});
  CHECK(rows.listener_counts.empty());
  CHECK(overflows_of(rows, kHost) == Overflows{4, 4, 0, 4});
  REQUIRE(rows.listeners);  // the first gauge is written, empty as it is
  CHECK(rows.listeners->listeners.empty());

  rows = h.sample(2, {netns(kHost, {{"ListenOverflows", 6}}, {listener("::", 9000, 51, 50, 31)})});
  CHECK(counts_of(rows, kHost, "::", 9000).overflows == 2);

  // Stopped right after its overflows: still the candidate for the interval it was last seen in.
  rows = h.sample(3, {netns(kHost, {{"ListenOverflows", 9}})});
  CHECK(counts_of(rows, kHost, "::", 9000).overflows == 5);
  REQUIRE(rows.listeners);
  CHECK(rows.listeners->listeners.empty());

  // Gone for a whole interval: nobody is left to own it.
  rows = h.sample(4, {netns(kHost, {{"ListenOverflows", 10}})});
  CHECK(counts_of(rows, kHost, "::", 9000).overflows == 5);
  CHECK(overflows_of(rows, kHost) == Overflows{10, 5, 0, 5});
  CHECK_FALSE(rows.listeners);  // unchanged: not written again
}

TEST_CASE("tcp sockets: SYN-queue drops and cookies go to the listener with request sockets") {
  Harness h({netns(kHost, {{"TCPReqQFullDrop", 0}, {"SyncookiesSent", 0}})});
  auto rows = h.sample(1, {netns(kHost, {{"TCPReqQFullDrop", 8}, {"SyncookiesSent", 3}},
                                 {listener("0.0.0.0", 443, 0, 128, 11), listener("10.0.0.1", 22, 0, 128, 12),
                                  connection(TCP_ST_NEW_SYN_RECV, "10.0.0.1", 443, "10.0.0.9", 50000),
                                  connection(TCP_ST_SYN_RECV, "10.0.0.2", 443, "10.0.0.9", 50001)})});
  // A wildcard listener owns request sockets of every local address on its port.
  CHECK(counts_of(rows, kHost, "0.0.0.0", 443).syn_drops == 8);
  CHECK(counts_of(rows, kHost, "0.0.0.0", 443).syncookies == 3);
  CHECK(counts_of(rows, kHost, "10.0.0.1", 22).syn_drops == 0);
  CHECK(level_of(rows, "0.0.0.0", 443).syn_recv == 2);
  CHECK(level_of(rows, "10.0.0.1", 22).syn_recv == 0);
  REQUIRE(rows.sockets);
  CHECK(rows.sockets->syn_recv == 2u);

  // Between walks the request sockets are not listed: the last walk's count stands.
  NetnsSnapshot unwalked = netns(kHost, {{"TCPReqQFullDrop", 9}, {"SyncookiesSent", 3}},
                                 {listener("0.0.0.0", 443, 0, 128, 11), listener("10.0.0.1", 22, 0, 128, 12)});
  unwalked.connections_walked = unwalked.time_wait_listed = false;
  rows = h.sample(2, {unwalked}, /*walk=*/false);
  CHECK(counts_of(rows, kHost, "0.0.0.0", 443).syn_drops == 9);
  CHECK_FALSE(rows.listeners);  // nothing changed, syn_recv included
  REQUIRE(rows.sockets);
  CHECK_FALSE(rows.sockets->syn_recv);
  CHECK_FALSE(rows.sockets->close_wait);
}

TEST_CASE("tcp sockets: CLOSE_WAIT is listed once a socket has been there a second, until it closes") {
  Harness h;
  h.processes[77] = {300, "leaky"};
  auto close_wait = [](int64_t last_ack_recv_ms = -1) {
    return connection(TCP_ST_CLOSE_WAIT, "10.0.0.1", 8080, "10.0.0.2", 41000, 77, last_ack_recv_ms);
  };
  // First seen at the first sample, without tcp_info: there before the window, so it is aged
  // from the window's start.
  auto rows = h.sample(0.5, {netns(kHost, {}, {close_wait()})});
  REQUIRE(rows.close_wait);  // the first gauge, empty: half a second is a close in progress
  CHECK(rows.close_wait->total == 0);
  CHECK(h.lookups.empty());
  REQUIRE(rows.sockets);
  CHECK(rows.sockets->close_wait == 1u);  // the series counts it all the same

  rows = h.sample(1.5, {netns(kHost, {}, {close_wait()})});
  REQUIRE(rows.close_wait);
  REQUIRE(rows.close_wait->sockets.size() == 1);
  CHECK(rows.close_wait->total == 1);
  CHECK(rows.close_wait->sockets[0] ==
        CloseWaitSocket{kHost, "10.0.0.1", 8080, "10.0.0.2", 41000, kStart, false, 0, 300, "leaky"});

  // Carried across walks: the same row, so the gauge is not written again.
  rows = h.sample(2.5, {netns(kHost, {}, {close_wait()})});
  CHECK_FALSE(rows.close_wait);
  CHECK(h.lookups == std::vector<std::vector<uint64_t>>{{77}});

  // Closed: the gauge empties.
  rows = h.sample(3.5, {netns(kHost, {}, {})});
  REQUIRE(rows.close_wait);
  CHECK(rows.close_wait->total == 0);
  CHECK(rows.close_wait->sockets.empty());

  // Back, first seen inside the window: aged from that sighting, listed only a second later.
  rows = h.sample(4, {netns(kHost, {}, {close_wait()})});
  CHECK_FALSE(rows.close_wait);  // still empty
  rows = h.sample(4.9, {netns(kHost, {}, {close_wait()})});
  CHECK_FALSE(rows.close_wait);
  // Not walked: nothing is known about CLOSE_WAIT, and its age stands.
  rows = h.sample(5, {netns(kHost, {})}, /*walk=*/false);
  CHECK_FALSE(rows.close_wait);
  REQUIRE(rows.sockets);
  CHECK_FALSE(rows.sockets->close_wait);
  rows = h.sample(5.1, {netns(kHost, {}, {close_wait()})});
  REQUIRE(rows.close_wait);
  REQUIRE(rows.close_wait->sockets.size() == 1);
  CHECK(rows.close_wait->sockets[0].entered_ns == Harness::at(4));
  CHECK_FALSE(rows.close_wait->sockets[0].exact);
  CHECK(rows.close_wait->sockets[0].pid == 300);  // known since the first listing: no new scan
  CHECK(h.lookups.size() == 1);
}

TEST_CASE("tcp sockets: CLOSE_WAIT entry from the kernel's last-ACK stamp, oldest first") {
  Harness h;
  h.sample(1, {netns(kHost, {})});
  auto rows = h.sample(10, {netns(kHost, {},
                                  {connection(TCP_ST_CLOSE_WAIT, "10.0.0.1", 80, "10.0.0.3", 1, 0, 1500),
                                   connection(TCP_ST_CLOSE_WAIT, "10.0.0.1", 80, "10.0.0.4", 2, 0, 7000),
                                   connection(TCP_ST_CLOSE_WAIT, "10.0.0.1", 80, "10.0.0.5", 3, 0, 999)})});
  REQUIRE(rows.close_wait);
  CHECK(rows.close_wait->total == 2);  // the one 999 ms in is a close in progress
  REQUIRE(rows.close_wait->sockets.size() == 2);
  CHECK(rows.close_wait->sockets[0] ==
        CloseWaitSocket{kHost, "10.0.0.1", 80, "10.0.0.4", 2, Harness::at(3), true, 0, 0, ""});
  CHECK(rows.close_wait->sockets[1] ==
        CloseWaitSocket{kHost, "10.0.0.1", 80, "10.0.0.3", 1, Harness::at(8.5), true, 0, 0, ""});
  CHECK(h.lookups.empty());  // no inode: nothing to look up
}

TEST_CASE("tcp sockets: TIME_WAIT counted by side and service port, in every namespace") {
  Harness h({netns(kHost, {}), netns(kContainer, {})});
  auto time_wait = [](const char *laddr, uint16_t lport, const char *raddr, uint16_t rport) {
    return connection(TCP_ST_TIME_WAIT, laddr, lport, raddr, rport);
  };
  auto rows = h.sample(1, {netns(kHost, {},
                                 {listener("0.0.0.0", 80, 0, 128, 11), time_wait("10.0.0.1", 80, "10.0.0.2", 40001),
                                  time_wait("10.0.0.1", 80, "10.0.0.2", 40002),
                                  time_wait("10.0.0.1", 80, "10.0.0.3", 40003),
                                  time_wait("10.0.0.1", 51000, "10.9.9.9", 443),
                                  time_wait("10.0.0.1", 51001, "10.9.9.9", 443)}),
                           netns(kContainer, {}, {time_wait("172.17.0.2", 52000, "10.0.0.1", 80)})});
  REQUIRE(rows.time_wait);
  CHECK(rows.time_wait->count == 6);
  CHECK(rows.time_wait->server == 3);
  CHECK(rows.time_wait->client == 3);
  CHECK(rows.time_wait->by_port == std::vector<TimeWaitPort>{{kHost, "server", 80, 3},
                                                             {kHost, "client", 443, 2},
                                                             {kContainer, "client", 80, 1}});
  REQUIRE(rows.sockets);
  CHECK(rows.sockets->time_wait == 6);

  // A namespace not listed one by one (no error): the listing is not whole, so it is not written;
  // the count still comes from sockstat.
  NetnsSnapshot counted_only = netns(kContainer, {});
  counted_only.time_wait_listed = false;
  counted_only.time_wait_count = 40;
  rows = h.sample(2, {netns(kHost, {}, {listener("0.0.0.0", 80, 0, 128, 11)}), counted_only});
  CHECK_FALSE(rows.time_wait);
  REQUIRE(rows.sockets);
  CHECK(rows.sockets->time_wait == 40);
}

TEST_CASE("tcp sockets: many TIME_WAIT sockets are listed every 5 s and at the window's end") {
  Harness h;
  // attach walked at kStart at a cost of 1 ms: the budget puts the next walk 200 ms later.
  CHECK(h.aggregator.walks().next_ns() == kStart + 200'000'000);
  CHECK(h.aggregator.scope(Harness::at(0.1), false).connections == false);
  CHECK(h.aggregator.scope(Harness::at(0.1), true).connections == true);
  CHECK(h.aggregator.scope(Harness::at(0.2), false).time_wait == true);  // few (none yet): every walk

  NetnsSnapshot storm = netns(kHost, {});
  storm.time_wait_count = 5000;  // listed: the sampler saw them all
  h.sample(1, {storm});
  CHECK(h.aggregator.scope(Harness::at(3), false).connections);
  CHECK_FALSE(h.aggregator.scope(Harness::at(3), false).time_wait);
  CHECK(h.aggregator.scope(Harness::at(3), true).time_wait);
  CHECK(h.aggregator.scope(Harness::at(6), false).time_wait);
}

TEST_CASE("tcp sockets: counters that go back count 0 and a reset; a vanished namespace keeps its totals") {
  Harness h({netns(kHost, {{"TcpRetransSegs", 100}}), netns(kContainer, {{"TcpRetransSegs", 50}})});
  auto rows = h.sample(1, {netns(kHost, {{"TcpRetransSegs", 90}}), netns(kContainer, {{"TcpRetransSegs", 55}})});
  CHECK(netstat_of(rows, kHost).TcpRetransSegs == 0);
  CHECK(netstat_of(rows, kContainer).TcpRetransSegs == 5);
  CHECK(h.deltas.resets() == 1);

  // The container's namespace is gone: not read, its totals stand; the host counts from 90.
  NetnsSnapshot vanished;
  vanished.inode = kContainer;
  vanished.error = "namespace vanished";
  rows = h.sample(2, {netns(kHost, {{"TcpRetransSegs", 97}}), vanished});
  CHECK(netstat_of(rows, kHost).TcpRetransSegs == 7);
  CHECK(netstat_of(rows, kContainer).TcpRetransSegs == 5);
  CHECK(rows.netstat.size() == 2);
  CHECK(h.deltas.resets() == 1);

  // Its inode reused by a new namespace: counters from 0 go back, and count nothing.
  rows = h.sample(3, {netns(kHost, {{"TcpRetransSegs", 97}}), netns(kContainer, {{"TcpRetransSegs", 2}})});
  CHECK(netstat_of(rows, kContainer).TcpRetransSegs == 5);
  CHECK(h.deltas.resets() == 2);

  // A namespace first seen inside the window was born there: all its counts are the window's.
  constexpr uint32_t kNew = 4026533000u;
  NetnsSnapshot born = netns(kNew, {{"TcpRetransSegs", 12}});
  born.name = "blue";
  rows = h.sample(4, {netns(kHost, {{"TcpRetransSegs", 97}}), born});
  CHECK(netstat_of(rows, kNew).TcpRetransSegs == 12);
  CHECK(netstat_of(rows, kNew).name == "blue");
}

TEST_CASE("tcp sockets: the sockets series row, and its JSON as stored") {
  Harness h;
  auto rows = h.sample(1, {netns(kHost, {}, {listener("0.0.0.0", 80, 5, 128, 11), listener("::", 443, 2, 64, 12)})});
  REQUIRE(rows.sockets);
  CHECK(*rows.sockets == SocketsRow{1.0, 0, 7, 0u, 0u});
  CHECK(nlohmann::json(*rows.sockets).dump() ==
        R"({"accept_backlog":7,"close_wait":0,"dt_s":1.0,"syn_recv":0,"time_wait":0})");
  CHECK(nlohmann::json(SocketsRow{0.5, 3, 0}).dump() == R"({"accept_backlog":0,"dt_s":0.5,"time_wait":3})");

  SocketInterval short_one;
  short_one.now_ns = Harness::at(1.01);
  short_one.dt_s = 0.01;
  short_one.scope = {false, false};
  short_one.namespaces = {netns(kHost, {})};
  CHECK_FALSE(h.aggregator.sample(short_one, h.drops, h.deltas).sockets);  // too short for a rate
}

TEST_CASE("tcp sockets: attach fails when our own namespace cannot be read, and says why") {
  SocketAggregator aggregator(kStart, [](const std::vector<uint64_t> &) {
    return std::unordered_map<uint64_t, SocketOwner>{};
  });
  NetnsSnapshot self = netns(kHost, {});
  self.error = "sock_diag socket: Permission denied";
  std::string error;
  CHECK_FALSE(aggregator.attach({self, netns(kContainer, {})}, kStart, 0, error));
  CHECK(error == fmt::format("netns {}: sock_diag socket: Permission denied", kHost));
  CHECK_FALSE(aggregator.one_request());
}

TEST_CASE("tcp sockets: a listener under pressure gets a servers row per sample: accepts, unread sockets, owners") {
  Harness h;
  h.processes[11] = {4242, "srv", {4242, 4243}};  // master and worker hold it
  auto accepted = [](uint64_t inode, uint32_t unread) {
    DiagSocket s = connection(TCP_ST_ESTABLISHED, "127.0.0.1", 8080, "127.0.0.1", 40000 + inode, inode);
    s.rqueue = unread;
    return s;
  };
  auto queued = connection(TCP_ST_ESTABLISHED, "127.0.0.1", 8080, "127.0.0.1", 39999);  // no inode: not accepted
  // 1: idle, one accepted socket read to the end: no row.
  auto rows = h.sample(1, {netns(kHost, {}, {listener("127.0.0.1", 8080, 0, 16, 11), accepted(100, 0)})});
  CHECK_FALSE(rows.servers);
  // 2: three queued, one newly accepted socket with its request unread.
  rows = h.sample(2, {netns(kHost, {}, {listener("127.0.0.1", 8080, 3, 16, 11), accepted(101, 50), queued})});
  REQUIRE(rows.servers);
  REQUIRE(rows.servers->servers.size() == 1);
  ServerLevel s = rows.servers->servers[0];
  CHECK(s.pids == std::vector<uint32_t>{4242, 4243});
  CHECK(s.comm == "srv");
  CHECK(s.backlog == 3);
  CHECK(s.compared);
  CHECK(s.accepted_new == 1);
  CHECK(s.unread_sockets == 1);
  CHECK(s.unread_bytes == 50);
  CHECK(s.unread_stuck == 0);
  // 3: the queue grows, nothing accepted, the same request still unread: the makings of a stall.
  rows = h.sample(3, {netns(kHost, {}, {listener("127.0.0.1", 8080, 5, 16, 11), accepted(101, 50)})});
  REQUIRE(rows.servers);
  s = rows.servers->servers[0];
  CHECK(s.backlog == 5);
  CHECK(s.accepted_new == 0);
  CHECK(s.unread_stuck == 1);
  CHECK(s.read_progress == 0);
  // 4: drained: an empty row says the pressure ended; 5: nothing more.
  rows = h.sample(4, {netns(kHost, {}, {listener("127.0.0.1", 8080, 0, 16, 11)})});
  REQUIRE(rows.servers);
  CHECK(rows.servers->servers.empty());
  rows = h.sample(5, {netns(kHost, {}, {listener("127.0.0.1", 8080, 0, 16, 11)})});
  CHECK_FALSE(rows.servers);
}

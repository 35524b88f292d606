// The tcp family's pure pieces and its report section, fed synthetic rows through a real
// recording file: no libbpf, no kernel. The reset recognisers are tcp_resets_test.cpp's, slices
// tcp_slice_test.cpp's.
#include <catch2/catch.hpp>
#include <fmt/format.h>

#include <unistd.h>

#include <filesystem>
#include <functional>
#include <fstream>

#include <optional>

#include "core/delta_table.h"
#include "core/histogram.h"
#include "record/recording.h"
#include "recording_fixture.h"
#include "scratch_dir.h"
#include "tcp/tcp_abi.h"
#include "tcp/tcp_model.h"
#include "tcp/tcp_netns.h"
#include "tcp/tcp_report.h"
#include "tcp/tcp_rows.h"
#include "tcp_rows_util.h"

using namespace triage;
using namespace triage::tcp;
using namespace triage::tcp_test;

TEST_CASE("tcp: state names are the kernel's") {
  CHECK(state_name(TCP_ST_CLOSE_WAIT) == "TCP_CLOSE_WAIT");
  CHECK(state_name(TCP_ST_ESTABLISHED) == "TCP_ESTABLISHED");
  CHECK(state_name(TCP_ST_NEW_SYN_RECV) == "TCP_NEW_SYN_RECV");
  CHECK(state_name(42) == "TCP_STATE_42");
}

TEST_CASE("tcp: port slots shrink with the CPU count, within bounds") {
  CHECK(port_slots_for(2) == TCP_PORT_SLOTS_MAX);
  CHECK(port_slots_for(21) == TCP_PORT_SLOTS_MAX);
  CHECK(port_slots_for(22) < TCP_PORT_SLOTS_MAX);
  CHECK(port_slots_for(256) == 682);
  CHECK(port_slots_for(100000) == 256);
  CHECK(port_slots_for(0) == TCP_PORT_SLOTS_MAX);
  for (int cpus : {22, 64, 256})  // above the floor of 256 slots, the per-CPU array fits in 16 MiB
    CHECK(uint64_t{port_slots_for(cpus)} * sizeof(tcp_port_stats) * cpus <= (16u << 20));
}

TEST_CASE("tcp: a port's per-CPU copies add up, and the largest connect time wins") {
  std::vector<tcp_port_stats> copies(3);
  copies[0].opens = 5;
  copies[0].connect_ns_max = 700;
  copies[0].close_wait_left = 1;
  copies[1].opens = 2;
  copies[1].connect_ns_max = 9000;
  copies[1].lifetime_count = 4;
  copies[2].connect_ns_max = 30;
  copies[2].close_wait_left = 2;
  tcp_port_stats total{};
  add_port_copies(total, copies);
  CHECK(total.opens == 7);
  CHECK(total.connect_ns_max == 9000);
  CHECK(total.lifetime_count == 4);
  CHECK(total.close_wait_left == 3);
  // A second slot of the same port (two CPUs claimed one each) adds to the same total.
  std::vector<tcp_port_stats> other(1);
  other[0].opens = 1;
  other[0].connect_ns_max = 10;
  add_port_copies(total, other);
  CHECK(total.opens == 8);
  CHECK(total.connect_ns_max == 9000);
}

TEST_CASE("tcp: sockstat gives the TIME_WAIT count") {
  CHECK(parse_sockstat_time_wait("sockets: used 120\nTCP: inuse 3 orphan 0 tw 35092 alloc 5 mem 1\n"
                                 "UDP: inuse 1 mem 0\n") == 35092);
  CHECK(parse_sockstat_time_wait("TCP: inuse 3 orphan 0 alloc 5 mem 1\n") == 0);
  CHECK(parse_sockstat_time_wait("") == 0);
  CHECK(parse_sockstat_time_wait("TCP6: inuse 1\nTCP: tw 7") == 7);
}

TEST_CASE("tcp: netstat and snmp parsing keeps TcpExt and Tcp counters") {
  std::map<std::string, uint64_t> c;
  parse_proc_net_counters(
      "TcpExt: SyncookiesSent ListenOverflows ListenDrops\nTcpExt: 3 17 19\n"
      "IpExt: InOctets\nIpExt: 100\n",
      c);
  parse_proc_net_counters("Tcp: RtoAlgorithm MaxConn RetransSegs\nTcp: 1 -1 42\n", c);
  CHECK(c.at("ListenOverflows") == 17);
  CHECK(c.at("SyncookiesSent") == 3);
  CHECK(c.at("TcpRetransSegs") == 42);
  CHECK(c.count("TcpMaxConn") == 0);  // -1 is not a counter
  CHECK(c.count("InOctets") == 0);
}

TEST_CASE("tcp: a namespace's overflows go to the one listener that shows them") {
  ListenerSignal idle, full, dropped, was_full;
  full.queue_full = full.ever_full = true;
  dropped.overflow_drops = 2;
  was_full.ever_full = true;
  SECTION("only one listener: it gets the delta even without a sampled symptom") {
    auto a = attribute_overflows(7, {idle});
    CHECK(a.shares == std::vector<uint64_t>{7});
    CHECK(a.unattributed == 0);
  }
  SECTION("the full one of two") {
    auto a = attribute_overflows(5, {idle, full});
    CHECK(a.shares == std::vector<uint64_t>{0, 5});
  }
  SECTION("kfree_skb drops outrank a sampled full queue") {
    auto a = attribute_overflows(9, {full, dropped});
    CHECK(a.shares == std::vector<uint64_t>{0, 9});
  }
  SECTION("drops of a port shared by an IPv4 and an IPv6 listener: the full one of the two") {
    // nginx's `listen 80; listen [::]:80;`: kfree_skb names the port, both rows see the drops.
    ListenerSignal full_dropped = full, idle_dropped = idle;
    full_dropped.overflow_drops = idle_dropped.overflow_drops = 1;
    auto a = attribute_overflows(1, {idle_dropped, full_dropped});
    CHECK(a.shares == std::vector<uint64_t>{0, 1});
    CHECK(a.unattributed == 0);
  }
  SECTION("the only listener seen full in the window, though not at this sample") {
    auto a = attribute_overflows(1, {idle, was_full, idle});
    CHECK(a.shares == std::vector<uint64_t>{0, 1, 0});
  }
  SECTION("two full at the same sample: not split, and said to be several") {
    auto a = attribute_overflows(4, {full, full, idle});
    CHECK(a.shares == std::vector<uint64_t>{0, 0, 0});
    CHECK(a.unattributed == 4);
    CHECK(a.several_full);
  }
  SECTION("two seen full at other times, none at this sample: not split, and not said to be several full") {
    auto a = attribute_overflows(3, {was_full, was_full});
    CHECK(a.unattributed == 3);
    CHECK_FALSE(a.several_full);
  }
  SECTION("no listener known: unattributed, not several full") {
    auto a = attribute_overflows(2, {});
    CHECK(a.unattributed == 2);
    CHECK_FALSE(a.several_full);
  }
}

TEST_CASE("tcp: the unattributed-overflow finding says several were full only when they were") {
  auto title_for = [](uint64_t several_full) {
    json report;
    report["tcp"] = {{"listeners", json::array()},
                     {"netstat", json::array({{{"netns", 4026532000ULL},
                                               {"delta", {{"ListenOverflows", 5}}},
                                               {"unattributed_overflows", 5},
                                               {"overflows_several_full", several_full}}})},
                     {"time_wait", {{"by_port", json::array()}}},
                     {"retransmits", {{"count", 0}, {"flows", json::array()}}},
                     {"read_timeouts", json::array()},
                     {"keepalive_races", json::array()}};
    json findings = json::array();
    add_findings(report, findings);
    REQUIRE(findings.size() == 1);
    CHECK(findings[0]["id"] == "listen-overflow");
    CHECK(findings[0]["evidence"]["overflows"] == 5);
    return findings[0]["title"].get<std::string>();
  };
  CHECK(title_for(5).find("several listeners were full at the same sample") != std::string::npos);
  CHECK(title_for(0).find("several") == std::string::npos);
  CHECK(title_for(0).find("no single listener was seen full") != std::string::npos);
  CHECK(title_for(2).find("2 while several listeners were full at the same sample, 0 with no listener seen") !=
        std::string::npos);
}

TEST_CASE("tcp: overflows with no listener seen at all are said to come from one that lived less than a sample") {
  auto a = attribute_overflows(6, {});
  CHECK(a.no_listener);
  CHECK(a.unattributed == 6);
  CHECK_FALSE(attribute_overflows(6, {ListenerSignal{}, ListenerSignal{}}).no_listener);
  json report;
  report["tcp"] = {{"listeners", json::array()},
                   {"netstat", json::array({{{"netns", 4026532000ULL},
                                             {"delta", {{"ListenOverflows", 6}}},
                                             {"unattributed_overflows", 6},
                                             {"overflows_no_listener", 6}}})},
                   {"spans", {{netns_span_key(4026532000ULL), {{"first_t", 3.0}, {"last_t", 4.0}, {"peak_t", 4.0}}}}},
                   {"time_wait", {{"by_port", json::array()}}},
                   {"retransmits", {{"count", 0}, {"flows", json::array()}}}};
  json findings = json::array();
  add_findings(report, findings);
  REQUIRE(findings.size() == 1);
  CHECK(findings[0]["title"].get<std::string>().find("it lived less than one sample") != std::string::npos);
  CHECK(findings[0]["evidence"]["no_listener_seen"] == 6);
  CHECK(findings[0]["first_t"] == 3.0);
  CHECK(findings[0]["last_t"] == 4.0);
}

TEST_CASE("tcp: the connection walk waits in proportion to what it cost, up to a ceiling") {
  constexpr uint64_t ms = 1'000'000;
  tcp::WalkSchedule walks(0.005, 0.02, 10'000 * ms);
  CHECK(walks.due(0));  // the first walk is never held back
  walks.walked(1000 * ms, 2 * ms);  // an idle machine's walk: 2 ms of CPU, due again 400 ms later
  CHECK_FALSE(walks.due(1399 * ms));
  CHECK(walks.due(1400 * ms));
  walks.walked(2000 * ms, 20 * ms);  // under churn: 20 ms waits 4 s
  CHECK_FALSE(walks.due(5999 * ms));
  CHECK(walks.due(6000 * ms));
  walks.walked(6000 * ms, 500 * ms);  // 500 ms would mean 100 s: the ceiling holds it to 10 s
  CHECK(walks.next_ns() == 16'000 * ms);
  walks.walked(16'000 * ms, 1 * ms);
  CHECK(walks.walks() == 4);
  CHECK(walks.cpu_ns() == 523 * ms);
  CHECK(walks.longest_gap_seen_ns() == 10'000 * ms);
}

TEST_CASE("tcp: while a listener is under pressure the walks may run four times as often") {
  constexpr uint64_t ms = 1'000'000;
  tcp::WalkSchedule walks(0.005, 0.02, 10'000 * ms);
  walks.walked(1000 * ms, 20 * ms);  // a slow walk: 4 s to wait idle, 1 s under pressure
  CHECK_FALSE(walks.due(1999 * ms, true));
  CHECK(walks.due(2000 * ms, true));
  CHECK_FALSE(walks.due(2000 * ms, false));
  CHECK(walks.due(5000 * ms, false));
  walks.walked(2000 * ms, 400 * ms);  // even under pressure the ceiling holds
  CHECK_FALSE(walks.due(11'999 * ms, true));
  CHECK(walks.due(12'000 * ms, true));
}

namespace {
// A fake /proc: <root>/<pid>/ns/net as a file; two pids share a namespace when one file is a hard
// link of the other (same inode, as two processes' ns/net links show the same namespace inode).
struct FakeProc {
  ScratchDir dir;
  std::string proc = dir.file("proc"), named = dir.file("netns");
  FakeProc() {
    std::filesystem::create_directories(proc + "/self/ns");
    std::filesystem::create_directories(named);
    std::ofstream(proc + "/self/ns/net").put('x');
  }
  void add(uint32_t pid, const std::string &same_ns_as = "self") {
    std::filesystem::create_directories(fmt::format("{}/{}/ns", proc, pid));
    std::filesystem::create_hard_link(proc + "/" + same_ns_as + "/ns/net", fmt::format("{}/{}/ns/net", proc, pid));
  }
  void add_new_ns(uint32_t pid) {
    std::filesystem::create_directories(fmt::format("{}/{}/ns", proc, pid));
    std::ofstream(fmt::format("{}/{}/ns/net", proc, pid)).put('x');
  }
  void remove(uint32_t pid) { std::filesystem::remove_all(fmt::format("{}/{}", proc, pid)); }
};
}  // namespace

TEST_CASE("tcp: the namespace finder stats only new pids between rechecks") {
  constexpr uint64_t s = 1'000'000'000;
  FakeProc fake;
  fake.add(100);
  fake.add_new_ns(200);
  fake.add(201, "200");
  tcp::NamespaceFinder finder(5 * s, fake.proc, fake.named);

  auto first = finder.find(1 * s);
  REQUIRE(first.size() == 2);  // ours (self, pid 100) and pid 200's, which 201 shares
  CHECK(first[0].pid == static_cast<uint32_t>(::getpid()));
  CHECK((first[1].pid == 200 || first[1].pid == 201));  // /proc lists in pid order, a scratch dir does not
  CHECK(finder.pids_statted() == 3);

  fake.add_new_ns(300);
  fake.remove(200);
  auto second = finder.find(2 * s);  // before the recheck: only pid 300 is new
  CHECK(finder.pids_statted() == 4);
  REQUIRE(second.size() == 3);
  auto pid_of = [&](const std::vector<tcp::NetnsSnapshot> &all, uint32_t inode) {
    for (const auto &ns : all)
      if (ns.inode == inode) return ns.pid;
    return 0u;
  };
  CHECK(pid_of(second, first[1].inode) == 201);  // 200 went; its namespace is still held by 201
  uint32_t blue = second[0].inode ^ second[1].inode ^ second[2].inode ^ first[0].inode ^ first[1].inode;
  CHECK(pid_of(second, blue) == 300);

  // A bind mount under /run/netns names a namespace at once, with or without a process in it.
  std::filesystem::create_hard_link(fake.proc + "/300/ns/net", fake.named + "/blue");
  auto third = finder.find(3 * s);
  CHECK(finder.pids_statted() == 4);
  REQUIRE(third.size() == 3);
  CHECK(third[1].name == "blue");  // named ones come right after ours
  CHECK(third[1].inode == blue);
  CHECK(third[1].pid == 300);

  finder.find(6 * s);  // the recheck: every pid again
  CHECK(finder.pids_statted() == 4 + 3);
  CHECK(tcp::NamespaceFinder(0, fake.proc, fake.named).find(0).size() == 3);
}

TEST_CASE("tcp: TIME_WAIT is attributed to the side that closed first") {
  NetnsSnapshot ns;
  ns.inode = 4026531840u;
  ns.sockets.push_back(sock(TCP_ST_LISTEN, "0.0.0.0", 80, "0.0.0.0", 0));
  for (int i = 0; i < 3; i++) ns.sockets.push_back(sock(TCP_ST_TIME_WAIT, "10.0.0.1", 80, "10.0.0.2", 40000 + i));
  ns.sockets.push_back(sock(TCP_ST_TIME_WAIT, "10.0.0.1", 51000, "10.0.0.9", 5432));
  TimeWaitGauge tw = time_wait_summary({ns});
  CHECK(tw.count == 4);
  CHECK(tw.server == 3);
  CHECK(tw.client == 1);
  CHECK(active_closer(tw.server, tw.client) == "mostly server");
  CHECK(tw.by_port[0].port == 80);
  CHECK(tw.by_port[0].side == "server");
  CHECK(tw.by_port[1].port == 5432);  // the remote service port on the client side
  CHECK(active_closer(10, 0) == "server");
  CHECK(active_closer(0, 0) == "none");
  CHECK(active_closer(5, 5) == "both");
}

TEST_CASE("tcp: an idle window has a section and no finding") {
  test::RecordingFixture fx(kStart);  // a recording without a window start is refused
  {
    auto &w = fx.writer();
    TcpRows rows(w);
    CounterRow c = counters();
    c.recursion_misses = 7;
    rows.counter_table.write(TcpRows::at(1), {c}, w);
    w.add_gauge(TcpRows::at(1), "tcp", "listeners", ListenersGauge{{listener("0.0.0.0", 22, 128)}});
    TimeWaitGauge tw;
    tw.count = tw.server = 3;
    w.add_gauge(TcpRows::at(1), "tcp", "time_wait", tw);
    rows.sample(1, 0, 3);
    rows.sample(2, 0, 3);
    fx.close();
  }
  auto reader = fx.reader();
  json report = report_of(*reader);
  const auto &s = report["tcp"];
  for (const char *key : {"transitions", "close_wait", "time_wait", "connect_latency", "retransmits", "listeners"})
    CHECK(s.contains(key));
  CHECK(s["retransmits"]["count"] == 0);
  CHECK(s["retransmits"]["rto_ms"]["unit"] == "ms");
  CHECK(s["listeners"][0]["samples"] == 2);  // the level holds until read again: both samples saw it
  CHECK(s["listeners"][0]["backlog_max"] == 128);
  CHECK(s["time_wait"]["count"] == 3);
  CHECK(s["time_wait"]["active_closer"] == "server");
  CHECK(report["findings"].empty());
  std::string text;
  render_text(s, text);
  CHECK(text.find("0.0.0.0:22") != std::string::npos);
  // Runs the kernel skipped (a transition, perhaps a CLOSE, never seen) are said, not hidden.
  CHECK(s["recursion_misses"] == 7);
  CHECK(text.find("skipped by the kernel (nested on a CPU) 7") != std::string::npos);
}

TEST_CASE("tcp: a not-recorded family is null") {
  test::RecordingFixture fx(kStart);  // a recording without a window start is refused
  fx.close();
  auto reader = fx.reader();
  CHECK(build_section(*reader, kStart).is_null());
}

TEST_CASE("tcp: every problem of the contract yields its finding") {
  test::RecordingFixture fx(kStart);  // a recording without a window start is refused
  {
    auto &w = fx.writer();
    TcpRows rows(w);
    rows.counter_table.write(TcpRows::at(1), {counters(20, 0, 0)}, w);
    rows.counter_table.write(TcpRows::at(2), {counters(120, 3, 1)}, w);
    w.add_series(TcpRows::at(2), "tcp", "rates", {{"dt_s", 1.0}, {"retrans_segs", 100}, {"syn_retrans", 4}});
    w.add_series(TcpRows::at(1), "tcp", "rates", {{"dt_s", 1.0}, {"retrans_segs", 20}, {"syn_retrans", 0}});
    Log2Histogram rto;
    for (int i = 0; i < 100; i++) rto.add(i < 90 ? 204 : 1000);
    w.add_hist(TcpRows::at(2), "tcp", "rto_ms", rto.to_json("ms"));
    FlowRow big{1, "10.0.0.1", 40000, "10.0.0.2", 443, 100, 0, 1, 0, "TCP_ESTABLISHED"};
    FlowRow syn{1, "10.0.0.1", 40001, "10.0.0.3", 5432, 3, 3, 2, 0, "TCP_SYN_SENT"};
    rows.flow_table.write(TcpRows::at(2), {big, syn}, w);
    ListenerLevel server = listener("127.0.0.1", 9100, 2, 4242, "server");
    server.backlog = 3;
    server.full = true;
    w.add_gauge(TcpRows::at(1), "tcp", "listeners", ListenersGauge{{server}});
    ListenerCountRow overflowed{1, "127.0.0.1", 9100, 68};
    rows.listener_table.write(TcpRows::at(3), {overflowed}, w);
    NetnsRow ns;
    ns.netns = 1;
    ns.TcpOutSegs = 1000;
    ns.ListenOverflows = 68;
    rows.netns_table.write(TcpRows::at(3), {ns}, w);
    // leaky's socket entered CLOSE_WAIT before the window and stays; healthy's shows at one walk only.
    CloseWaitSocket leaky = close_wait_socket(777, "leaky", 8080, 50000, kStart - 60 * kSecond);
    CloseWaitSocket healthy = close_wait_socket(778, "healthy", 8081, 50001, TcpRows::at(2.5));
    w.add_gauge(TcpRows::at(1), "tcp", "close_wait", CloseWaitGauge{{leaky}, 1});
    w.add_gauge(TcpRows::at(4), "tcp", "close_wait", CloseWaitGauge{{leaky, healthy}, 2});
    w.add_gauge(TcpRows::at(5), "tcp", "close_wait", CloseWaitGauge{{leaky}, 1});
    for (int t = 1; t <= 5; t++) rows.sample(t, t == 4 ? 2 : 1, t == 3 ? 1600 : 1500);
    TimeWaitGauge tw;
    tw.count = tw.server = 1500;
    tw.by_port = {{1, "server", 80, 1500}};
    w.add_gauge(TcpRows::at(1), "tcp", "time_wait", tw);
    w.add_event(kStart + kSecond, "tcp", "reset_sent", {{"sport", 80}});
    fx.close();
  }
  auto reader = fx.reader();
  json report = report_of(*reader);
  const auto &s = report["tcp"];
  CHECK(s["retransmits"]["count"] == 120);
  CHECK(s["retransmits"]["syn_count"] == 4);  // SYN + SYN-ACK, as TCPSynRetrans counts
  CHECK(s["time_wait"]["active_closer"] == "server");
  CHECK(s["resets"]["events"].size() == 1);
  CHECK(s["resets"]["events"][0]["t"] == Approx(1.0));

  const json *overflow = finding(report, "listen-overflow");
  REQUIRE(overflow);
  CHECK(overflow->at("evidence")["overflows"] == 68);
  CHECK(overflow->at("severity") == "warning");

  CHECK(overflow->at("first_t") == Approx(3.0));
  CHECK(s["time_wait"]["peak"] == 1600);
  CHECK(s["time_wait"]["count"] == 1500);

  const json *leak = finding(report, "close-wait-leak");
  REQUIRE(leak);
  CHECK(leak->at("evidence")["pid"] == 777);  // the one seen at one walk only is a close in progress
  CHECK(leak->at("evidence")["ports"] == json::array({8080}));
  CHECK(leak->at("first_t") == Approx(0.0));  // in CLOSE_WAIT since before the window: from its start
  CHECK(leak->at("last_t") == Approx(5.0));
  CHECK(leak->at("evidence")["still_open"] == 1);
  CHECK(s["close_wait"].size() == 1);
  CHECK(s["close_wait"][0]["age_ms"] == 65000);  // from before the window to the last walk
  size_t leaks = 0;
  for (const auto &f : report["findings"]) leaks += f["id"] == "close-wait-leak";
  CHECK(leaks == 1);

  const json *churn = finding(report, "time-wait-churn");
  REQUIRE(churn);
  CHECK(churn->at("title").get<std::string>().find("the server closes first") != std::string::npos);

  const json *retrans = finding(report, "retransmits");
  REQUIRE(retrans);
  CHECK(retrans->at("severity") == "critical");  // 12% of segments sent
  CHECK(retrans->at("evidence")["worst_flow"].get<std::string>().find("10.0.0.2:443") != std::string::npos);
  CHECK(retrans->at("first_t") == Approx(1.0));
  CHECK(retrans->at("peak_t") == Approx(2.0));

  const json *connect = finding(report, "connect-timeout-risk");
  REQUIRE(connect);
  CHECK(connect->at("evidence")["max_backoff"] == 2);
  CHECK(connect->at("evidence")["target"] == "10.0.0.3:5432");
  CHECK(connect->at("evidence")["min_safe_connect_timeout_s"].get<double>() >= 3.0);  // 1 s + 2 s, plus an RTT
  CHECK(connect->at("first_t") == Approx(2.0));

  CHECK(finding(report, "syn-flood") == nullptr);

  std::string text;
  render_text(s, text);
  CHECK(text.find("127.0.0.1:9100") != std::string::npos);
  CHECK(text.find("leaky") != std::string::npos);
}

TEST_CASE("tcp: SYN cookies make a syn-flood finding") {
  test::RecordingFixture fx(kStart);  // a recording without a window start is refused
  {
    auto &w = fx.writer();
    TcpRows rows(w);
    rows.counter_table.write(TcpRows::at(1), {counters()}, w);
    ListenerLevel flooded = listener("0.0.0.0", 443, 4096);
    flooded.syn_recv = 4096;
    w.add_gauge(TcpRows::at(1), "tcp", "listeners", ListenersGauge{{flooded}});
    rows.sample(1);
    ListenerCountRow cookies{1, "0.0.0.0", 443, 0, 0, 900};
    rows.listener_table.write(TcpRows::at(2), {cookies}, w);
    NetnsRow ns;
    ns.netns = 1;
    ns.SyncookiesSent = 900;
    rows.netns_table.write(TcpRows::at(2), {ns}, w);
    fx.close();
  }
  auto reader = fx.reader();
  json report = report_of(*reader);
  const json *flood = finding(report, "syn-flood");
  REQUIRE(flood);
  CHECK(flood->at("evidence")["syncookies_sent"] == 900);
  CHECK(flood->at("evidence")["listener"] == "0.0.0.0:443");
  CHECK(flood->at("first_t") == Approx(1.0));  // half-open connections seen first, then the cookies
  CHECK(flood->at("last_t") == Approx(2.0));
}

TEST_CASE("tcp: the reset event and the per-socket owner keep their layout") {
  CHECK(sizeof(tcp_reset_event) == 120);
  CHECK(sizeof(tcp_sock_state) == 56);
  CHECK(sizeof(tcp_fin_info) == 48);
}

TEST_CASE("tcp: cookies from a full accept queue's own few clients are no syn-flood") {
  test::RecordingFixture fx(kStart);
  {
    auto &w = fx.writer();
    TcpRows rows(w);
    rows.counter_table.write(TcpRows::at(1), {counters()}, w);
    ListenerLevel slow = listener("127.0.0.1", 8080, 16, 4242, "nginx");
    slow.backlog = 17;
    slow.full = true;
    slow.syn_recv = 16;         // handshakes whose last ACK the full accept queue refused
    slow.syn_recv_sources = 1;  // all from one client
    w.add_gauge(TcpRows::at(1), "tcp", "listeners", ListenersGauge{{slow}});
    rows.sample(1);
    ListenerCountRow counts{1, "127.0.0.1", 8080, 300, 0, 40};
    rows.listener_table.write(TcpRows::at(2), {counts}, w);
    NetnsRow ns;
    ns.netns = 1;
    ns.SyncookiesSent = 40;
    ns.ListenOverflows = 300;
    rows.netns_table.write(TcpRows::at(2), {ns}, w);
    fx.close();
  }
  auto reader = fx.reader();
  json report = report_of(*reader);
  CHECK(finding(report, "syn-flood") == nullptr);
  REQUIRE(finding(report, "listen-overflow"));
  CHECK(report["tcp"]["listeners"][0]["syn_recv_sources_peak"] == 1);
}

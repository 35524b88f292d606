// The tcp family's pure pieces and its report section, fed synthetic rows through a real
// recording file: no libbpf, no kernel.
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

using namespace triage;
using namespace triage::tcp;

namespace {

constexpr uint64_t kStart = 1'000'000'000'000ULL;
constexpr uint64_t kSecond = 1'000'000'000ULL;

// The family's totals since attach, as the sampler hands them to its counters table.
CounterRow counters(uint64_t retrans = 0, uint64_t syn = 0, uint64_t synack = 0) {
  CounterRow c;
  c.retrans_segs = c.retrans_events = retrans;
  c.syn_retrans = syn;
  c.synack_retrans = synack;
  return c;
}

// What the sampler writes, through the same tables and row structs (tcp_rows.h).
struct TcpRows {
  RecordingWriter &w;
  DeltaTable<CounterRow> counter_table{"tcp", "counters"};
  DeltaTable<FlowRow> flow_table{"tcp", "flows"};
  DeltaTable<ListenerCountRow> listener_table{"tcp", "listener_counts"};
  DeltaTable<NetnsRow> netns_table{"tcp", "netstat"};
  explicit TcpRows(RecordingWriter &writer) : w(writer) {
    TcpConfig config;
    config.method = "tp_btf";
    config.hz = 250;
    w.set_meta("tcp.config", config);
  }
  // One sample at `t_s` seconds into the window: its sockets row (a walk when close_wait is given).
  void sample(double t_s, std::optional<uint64_t> close_wait = std::nullopt, uint64_t time_wait = 0) {
    json row = {{"dt_s", 1.0}, {"time_wait", time_wait}, {"accept_backlog", 0}};
    if (close_wait) row["close_wait"] = *close_wait, row["syn_recv"] = 0;
    w.add_series(at(t_s), "tcp", "sockets", row);
  }
  static uint64_t at(double t_s) { return kStart + static_cast<uint64_t>(t_s * 1e9); }
};

ListenerLevel listener(const char *addr, uint16_t port, uint32_t backlog_max, uint32_t pid = 0, const char *comm = "") {
  ListenerLevel l;
  l.netns = 1;
  l.addr = addr;
  l.port = port;
  l.backlog_max = backlog_max;
  l.pid = pid;
  l.comm = comm;
  return l;
}

CloseWaitSocket close_wait_socket(uint32_t pid, const char *comm, uint16_t lport, uint16_t rport, uint64_t entered_ns) {
  CloseWaitSocket cw;
  cw.netns = 1;
  cw.laddr = "10.0.0.1";
  cw.lport = lport;
  cw.raddr = "10.0.0.5";
  cw.rport = rport;
  cw.entered_ns = entered_ns;
  cw.exact = true;
  cw.pid = pid;
  cw.comm = comm;
  return cw;
}

json report_of(const RecordingReader &r) {
  json report;
  report["tcp"] = build_section(r, kStart);
  report["findings"] = json::array();
  add_findings(report, report["findings"]);
  return report;
}

const json *finding(const json &report, const std::string &id) {
  for (const auto &f : report["findings"])
    if (f["id"] == id) return &f;
  return nullptr;
}

DiagSocket sock(int state, const char *laddr, uint16_t lport, const char *raddr, uint16_t rport) {
  DiagSocket s;
  s.family = 2;
  s.state = state;
  s.laddr = laddr;
  s.lport = lport;
  s.raddr = raddr;
  s.rport = rport;
  return s;
}

}  // namespace

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
  tcp::WalkSchedule walks(0.005, 10'000 * ms);
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

namespace {

constexpr uint64_t kMs = 1'000'000ULL;

// A reset event as the family records it (tcp.resets.events rows carry kind and t_ns too).
json reset_event(const char *kind, const char *state, const char *role, uint16_t sport, uint16_t dport) {
  return {{"kind", kind},        {"netns", 1},       {"saddr", "10.0.0.1"}, {"sport", sport}, {"daddr", "10.0.0.2"},
          {"dport", dport},      {"state", state},   {"role", role},        {"pid", 321},     {"comm", "client"},
          {"established_ns", 0}, {"srtt_us", 0},     {"last_send_ns", 0},   {"last_recv_ns", 0},
          {"close_wait_ns", 0},  {"fin_ns", 0}};
}

// The client sent at 10 s, gave up (FIN) timeout_ms later, and reset the answer 2 s after that.
json late_answer(uint16_t sport, uint64_t timeout_ms) {
  json e = reset_event("reset_sent", "TCP_TIME_WAIT", "client", sport, 8080);
  e["last_send_ns"] = kStart + 10 * kSecond;
  e["last_recv_ns"] = kStart + 9 * kSecond;
  e["fin_ns"] = kStart + 10 * kSecond + timeout_ms * kMs;
  e["t_ns"] = kStart + 12 * kSecond + timeout_ms * kMs;
  e["srtt_us"] = 1500;
  return e;
}

// The client's last answer at 20 s, the server's FIN 1 s later, the reuse idle_ms after the answer.
json reused_after_close(uint16_t sport, uint64_t idle_ms, const char *role = "client") {
  json e = reset_event("reset_received", "TCP_CLOSE_WAIT", role, sport, 8080);
  e["last_recv_ns"] = kStart + 20 * kSecond;
  e["close_wait_ns"] = kStart + 21 * kSecond;
  e["last_send_ns"] = kStart + 20 * kSecond + idle_ms * kMs;
  e["t_ns"] = e["last_send_ns"].get<uint64_t>() + kMs;
  return e;
}

// A report from a recording of these reset events and tcp states (a state given replaces the default).
json report_with_events(const std::vector<json> &events,
                        const std::function<void(TcpRows &)> &more = [](TcpRows &) {}) {
  test::RecordingFixture fx(kStart);
  {
    auto &w = fx.writer();
    TcpRows rows(w);
    rows.counter_table.write(TcpRows::at(1), {counters()}, w);
    more(rows);
    for (const auto &e : events) {
      json data = e;
      std::string kind = data["kind"];
      uint64_t t = data["t_ns"];
      data.erase("kind");
      data.erase("t_ns");
      w.add_event(t, "tcp", kind, data);
    }
    fx.close();
  }
  auto reader = fx.reader();
  return report_of(*reader);
}

}  // namespace

TEST_CASE("tcp: a late answer reset after the client's FIN is a read timeout from 50 ms of waiting") {
  json below = read_timeouts(json::array({late_answer(40001, 49)}));
  CHECK(below.empty());  // closed 49 ms after sending: not waiting for an answer
  json above = read_timeouts(json::array({late_answer(40002, 50)}));
  REQUIRE(above.size() == 1);
  CHECK(above[0]["timeout_ms"] == 50);
  CHECK(above[0]["late_by_ms"] == 2000);
  CHECK(above[0]["sport"] == 40002);
  CHECK(above[0]["pid"] == 321);
  // A reset with no FIN of ours before it, or a received one, is something else.
  json plain = late_answer(40003, 1000);
  plain["fin_ns"] = 0;
  json received = late_answer(40004, 1000);
  received["kind"] = "reset_received";
  CHECK(read_timeouts(json::array({plain, received})).empty());
}

TEST_CASE("tcp: a reset on a reused CLOSE_WAIT connection is a keep-alive race") {
  json answered = reused_after_close(40010, 0);  // sent in the same instant as the last answer
  CHECK(keepalive_races(json::array({answered})).empty());
  json races = keepalive_races(json::array({reused_after_close(40011, 1)}));
  REQUIRE(races.size() == 1);
  races = keepalive_races(json::array({reused_after_close(40012, 1040)}));
  REQUIRE(races.size() == 1);
  CHECK(races[0]["idle_ms"] == 1040);
  CHECK(races[0]["peer_idle_close_ms"] == 1000);
  CHECK(races[0]["reused_after_fin_ms"] == 40);
  // A server answering after its client left: its own CLOSE_WAIT reset, not a race.
  CHECK(keepalive_races(json::array({reused_after_close(40013, 1040, "server")})).empty());
  json established = reused_after_close(40014, 1040);
  established["state"] = "TCP_ESTABLISHED";
  CHECK(keepalive_races(json::array({established})).empty());
}

TEST_CASE("tcp: read-timeout and keepalive-race findings, warning below ten and critical from ten") {
  std::vector<json> events;
  for (uint16_t i = 0; i < 9; i++) events.push_back(late_answer(41000 + i, 1000));
  for (uint16_t i = 0; i < 9; i++) events.push_back(reused_after_close(42000 + i, 1030));
  json report = report_with_events(events);
  CHECK(report["tcp"]["read_timeouts"].size() == 9);
  CHECK(report["tcp"]["keepalive_races"].size() == 9);
  const json *rt = finding(report, "read-timeout");
  REQUIRE(rt);
  CHECK(rt->at("severity") == "warning");
  CHECK(rt->at("evidence")["target"] == "10.0.0.2:8080");
  CHECK(rt->at("evidence")["timeout_ms"] == 1000);
  CHECK(rt->at("evidence")["processing_ms"] == 3000);
  // processing 3000 + RTO 200 + RTT 1.5 ms rounded up
  CHECK(rt->at("evidence")["min_safe_read_timeout_ms"] == 3202);
  const json *ka = finding(report, "keepalive-race");
  REQUIRE(ka);
  CHECK(ka->at("severity") == "warning");
  CHECK(ka->at("evidence")["count"] == 9);
  CHECK(ka->at("evidence")["server_keepalive_timeout_ms"] == 1000);
  CHECK(ka->at("advice").get<std::string>().find("shorter than the server's keep-alive timeout") != std::string::npos);
  std::string text;
  render_text(report["tcp"], text);
  CHECK(text.find("gave up after 1000 ms") != std::string::npos);
  CHECK(text.find("idle 1030 ms before reuse") != std::string::npos);

  events.push_back(late_answer(41009, 1000));
  events.push_back(reused_after_close(42009, 1030));
  report = report_with_events(events);
  CHECK(finding(report, "read-timeout")->at("severity") == "critical");
  CHECK(finding(report, "keepalive-race")->at("severity") == "critical");
}

TEST_CASE("tcp: a cut list of read timeouts says first N of M and keeps the longest") {
  std::vector<json> events;
  for (uint16_t i = 0; i < 30; i++) events.push_back(late_answer(43000 + i, 1000));
  events.push_back(late_answer(43100, 5000));  // the longest, and the last by time
  json report = report_with_events(events);
  CHECK(report["tcp"]["read_timeouts_total"] == 31);
  CHECK(report["tcp"]["read_timeouts"].size() == 31);
  std::string text;
  render_text(report["tcp"], text);
  CHECK(text.find("first 9 of 31 by time, and the longest timeout") != std::string::npos);
  CHECK(text.find("gave up after 5000 ms") != std::string::npos);
  CHECK(text.find(":43009 ") == std::string::npos);  // the tenth by time made room for it

  auto shown = first_rows_with_largest(report["tcp"]["read_timeouts"], 40, "timeout_ms", "longest timeout");
  CHECK(shown.index.size() == 31);
  CHECK(shown.caption.empty());  // nothing cut, nothing to say
  CHECK(top_caption(10, 200, "segments") == "top 10 of 200 by segments");
  CHECK(top_caption(3, 3, "segments").empty());
}

TEST_CASE("tcp: finding evidence is computed from the rows the flow table shows") {
  // The connect whose SYN was retransmitted twice got through: its row is ESTABLISHED now.
  json report = report_with_events({}, [](TcpRows &rows) {
    rows.counter_table.write(TcpRows::at(2), {counters(40, 2, 0)}, rows.w);
    FlowRow connected{1, "10.0.0.1", 40000, "10.0.0.9", 443, 38, 2, 2, 0, "TCP_ESTABLISHED"};
    FlowRow other{1, "10.0.0.1", 40001, "10.0.0.3", 80, 2, 0, 1, 0, "TCP_ESTABLISHED"};
    rows.flow_table.write(TcpRows::at(2), {connected, other}, rows.w);
  });
  const json *retrans = finding(report, "retransmits");
  REQUIRE(retrans);
  CHECK(retrans->at("evidence")["max_backoff"] == 2);
  const json *connect = finding(report, "connect-timeout-risk");
  REQUIRE(connect);
  CHECK(connect->at("evidence")["max_backoff"] == 2);
  CHECK(connect->at("evidence")["target"] == "10.0.0.9:443");
}

TEST_CASE("tcp: one incident seen from both ends is reported once") {
  SECTION("a late answer: the server's CLOSE_WAIT reset (role unknown) is not a race") {
    json client = late_answer(43000, 1000);
    json server = reused_after_close(8080, 3000, "unknown");
    server["saddr"] = "10.0.0.2";
    server["daddr"] = "10.0.0.1";
    server["dport"] = 43000;
    json report = report_with_events({client, server});
    CHECK(report["tcp"]["read_timeouts"].size() == 1);
    CHECK(report["tcp"]["keepalive_races"].empty());
    CHECK(finding(report, "keepalive-race") == nullptr);
  }
  SECTION("an idle close: the server's reset of the reused request (role unknown) is not a read timeout") {
    json client = reused_after_close(43001, 1030);
    json server = late_answer(8080, 1000);
    server["saddr"] = "10.0.0.2";
    server["daddr"] = "10.0.0.1";
    server["dport"] = 43001;
    json report = report_with_events({client, server});
    CHECK(report["tcp"]["keepalive_races"].size() == 1);
    CHECK(report["tcp"]["read_timeouts"].empty());
    CHECK(finding(report, "read-timeout") == nullptr);
  }
}

TEST_CASE("tcp: the reset event and the per-socket owner keep their layout") {
  CHECK(sizeof(tcp_reset_event) == 120);
  CHECK(sizeof(tcp_sock_state) == 56);
  CHECK(sizeof(tcp_fin_info) == 48);
}

namespace {

json report_of_slice(RecordingReader &r, double from_s, double to_s) {
  r.set_slice({TcpRows::at(from_s), TcpRows::at(to_s)});
  return report_of(r);
}

}  // namespace

// issue #20: a server held CLOSE_WAIT sockets for 8 s and exited before the window ended. The
// leak is judged over the slice: named with its owner (known while it lived), its sockets' count
// and ports, and when; a slice after it shows nothing.
TEST_CASE("tcp: a CLOSE_WAIT leak gone by the end is still found, with its span, in the slices that saw it") {
  test::RecordingFixture fx(kStart);
  {
    auto &w = fx.writer();
    TcpRows rows(w);
    std::vector<CloseWaitSocket> leaked;
    for (uint16_t i = 0; i < 3; i++) leaked.push_back(close_wait_socket(4242, "leaker", 9200, 50000 + i, TcpRows::at(2)));
    // Listed from 3 s (a second in CLOSE_WAIT), owner found; the owner exits at 10.5 s and its
    // sockets go with it.
    w.add_gauge(TcpRows::at(1), "tcp", "close_wait", CloseWaitGauge{});
    w.add_gauge(TcpRows::at(3), "tcp", "close_wait", CloseWaitGauge{leaked, 3});
    w.add_gauge(TcpRows::at(11), "tcp", "close_wait", CloseWaitGauge{});
    w.add_gauge(TcpRows::at(15), "tcp", "close_wait", CloseWaitGauge{});  // the window's end
    for (int t = 1; t <= 15; t++) rows.sample(t, t >= 3 && t <= 10 ? 3 : 0);
    fx.close();
  }
  auto reader = fx.reader();
  auto &r = *reader;
  json whole = report_of(r);
  CHECK(whole["tcp"]["close_wait"].empty());  // nothing left at the end
  const json *leak = finding(whole, "close-wait-leak");
  REQUIRE(leak);
  CHECK(leak->at("evidence")["pid"] == 4242);
  CHECK(leak->at("evidence")["comm"] == "leaker");
  CHECK(leak->at("evidence")["count"] == 3);
  CHECK(leak->at("evidence")["ports"] == json::array({9200}));
  CHECK(leak->at("evidence")["peer_ports"] == json::array({50000, 50001, 50002}));
  CHECK(leak->at("evidence")["still_open"] == 0);
  CHECK(leak->at("first_t") == Approx(2.0));  // when they came into CLOSE_WAIT, not the walk that listed them
  CHECK(leak->at("last_t") == Approx(10.0));
  CHECK(leak->at("title").get<std::string>().find("gone by the end") != std::string::npos);
  std::string text;
  render_text(whole["tcp"], text);
  CHECK(text.find("2.0s-10.0s  3 socket(s) on port 9200  leaker (4242)  oldest 8.00s, 0 open at the end\n") !=
        std::string::npos);

  json middle = report_of_slice(r, 5, 8);  // the sockets were listed before the slice: the level holds
  leak = finding(middle, "close-wait-leak");
  REQUIRE(leak);
  CHECK(leak->at("first_t") == Approx(5.0));  // stuck since before the slice: from its start
  CHECK(leak->at("last_t") == Approx(8.0));
  CHECK(middle["tcp"]["close_wait"].size() == 3);
  CHECK(middle["tcp"]["close_wait"][0]["age_ms"] == 6000);

  // A slice that holds only two walks (7 and 8 s): the sockets were stuck since before it, and
  // are judged on that history.
  json two_walks = report_of_slice(r, 6, 8.5);
  leak = finding(two_walks, "close-wait-leak");
  REQUIRE(leak);
  CHECK(leak->at("first_t") == Approx(6.0));
  CHECK(leak->at("last_t") == Approx(8.0));

  CHECK(finding(report_of_slice(r, 10.5, 15), "close-wait-leak") == nullptr);
  CHECK(finding(report_of_slice(r, 0, 4), "close-wait-leak") == nullptr);  // two walks are not yet stuck
}

// issue #20: a listener born inside the window, in a namespace born inside it, overflowed: the
// per-listener counts and the namespace's ListenOverflows add up over any split into slices.
TEST_CASE("tcp: listener overflows of consecutive slices add up to the namespace's counter") {
  test::RecordingFixture fx(kStart);
  {
    auto &w = fx.writer();
    TcpRows rows(w);
    uint64_t overflows = 0, attributed = 0;
    ListenerLevel l = listener("127.0.0.1", 9100, 2, 99, "server");
    for (int t = 1; t <= 9; t++) {
      rows.sample(t);
      if (t < 3) continue;  // born at 3 s
      l.backlog = t >= 4 && t <= 6 ? 3 : 0;
      l.full = l.backlog == 3;
      w.add_gauge(TcpRows::at(t), "tcp", "listeners", ListenersGauge{{l}});
      if (l.full) overflows += 10 + t, attributed += 10 + t;
      rows.listener_table.write(TcpRows::at(t), {ListenerCountRow{1, "127.0.0.1", 9100, attributed}}, w);
      NetnsRow ns;
      ns.netns = 1;
      ns.ListenOverflows = overflows;
      rows.netns_table.write(TcpRows::at(t), {ns}, w);
    }
    fx.close();
  }
  auto reader = fx.reader();
  auto &r = *reader;
  json whole = report_of(r);
  REQUIRE(whole["tcp"]["listeners"].size() == 1);
  const json &l = whole["tcp"]["listeners"][0];
  CHECK(l["overflows"] == 14 + 15 + 16);
  CHECK(l["backlog_peak"] == 3);
  CHECK(l["full_samples"] == 3);
  CHECK(l["samples"] == 7);
  CHECK(whole["tcp"]["netstat"][0]["delta"]["ListenOverflows"] == 45);
  const json *f = finding(whole, "listen-overflow");
  REQUIRE(f);
  CHECK(f->at("first_t") == Approx(4.0));
  CHECK(f->at("last_t") == Approx(6.0));
  CHECK(f->at("peak_t") == Approx(6.0));
  uint64_t per_listener = 0, per_namespace = 0;
  for (auto [from, to] : {std::pair{0.0, 4.5}, std::pair{4.5, 5.5}, std::pair{5.5, 20.0}}) {
    json slice = report_of_slice(r, from, to);
    for (const auto &x : slice["tcp"]["listeners"]) per_listener += x["overflows"].get<uint64_t>();
    for (const auto &x : slice["tcp"]["netstat"]) per_namespace += x["delta"].value("ListenOverflows", uint64_t{0});
  }
  CHECK(per_listener == 45);
  CHECK(per_namespace == 45);
  json late = report_of_slice(r, 7.5, 9);  // the listener, idle now, still listed from the level in force
  REQUIRE(late["tcp"]["listeners"].size() == 1);
  CHECK(late["tcp"]["listeners"][0]["overflows"] == 0);
  CHECK(late["tcp"]["listeners"][0]["backlog_peak"] == 0);
  CHECK(finding(late, "listen-overflow") == nullptr);
}

// The tcp family's pure pieces and its report section, fed synthetic rows through a real
// recording file: no libbpf, no kernel.
#include <catch2/catch.hpp>
#include <fmt/format.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "core/histogram.h"
#include "record/recording.h"
#include "scratch_dir.h"
#include "tcp/tcp_abi.h"
#include "tcp/tcp_model.h"
#include "tcp/tcp_netns.h"
#include "tcp/tcp_report.h"

using namespace triage;
using namespace triage::tcp;

namespace {

constexpr uint64_t kStart = 1'000'000'000'000ULL;
constexpr uint64_t kSecond = 1'000'000'000ULL;

struct TempRecording {
  std::string path;
  TempRecording() {
    char pattern[] = "/tmp/triage-tcp-unit-XXXXXX";
    int fd = ::mkstemp(pattern);
    ::close(fd);
    ::unlink(pattern);
    path = pattern;
  }
  ~TempRecording() { std::filesystem::remove(path); }
};

json counters(uint64_t retrans = 0, uint64_t syn = 0, uint64_t synack = 0) {
  return {{"method", "tp_btf"},  {"hz", 250},           {"retrans_segs", retrans}, {"retrans_events", retrans},
          {"syn_retrans", syn},  {"synack_retrans", synack}, {"events_lost", 0},    {"events_produced", 0}};
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
                     {"close_wait", json::array()},
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
  CHECK(title_for(2).find("2 while several listeners were full at the same sample, 3 with no single") != std::string::npos);
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
  json tw = time_wait_summary({ns});
  CHECK(tw["count"] == 4);
  CHECK(tw["server"] == 3);
  CHECK(tw["client"] == 1);
  CHECK(tw["active_closer"] == "mostly server");
  CHECK(tw["by_port"][0]["port"] == 80);
  CHECK(tw["by_port"][0]["side"] == "server");
  CHECK(tw["by_port"][1]["port"] == 5432);  // the remote service port on the client side
  CHECK(active_closer(10, 0) == "server");
  CHECK(active_closer(0, 0) == "none");
  CHECK(active_closer(5, 5) == "both");
}

TEST_CASE("tcp: an idle window has a section and no finding") {
  TempRecording tmp;
  {
    auto writer = RecordingWriter::create(tmp.path);
    REQUIRE(writer);
    (*writer)->set_meta("start_ns", kStart);  // a recording without a window start is refused
    auto &w = **writer;
    json c = counters();
    c["recursion_misses"] = 7;
    w.put_state("tcp", "counters", c);
    w.put_state("tcp", "listeners",
                json::array({{{"addr", "0.0.0.0"}, {"port", 22}, {"backlog_max", 128}, {"backlog", 0}, {"overflows", 0}}}));
    w.put_state("tcp", "time_wait", {{"count", 3}, {"server", 3}, {"client", 0}, {"by_port", json::array()}});
    REQUIRE(w.flush());
  }
  auto reader = RecordingReader::open(tmp.path);
  REQUIRE(reader);
  json report = report_of(**reader);
  const auto &s = report["tcp"];
  for (const char *key : {"transitions", "close_wait", "time_wait", "connect_latency", "retransmits", "listeners"})
    CHECK(s.contains(key));
  CHECK(s["retransmits"]["count"] == 0);
  CHECK(s["retransmits"]["rto_ms"]["unit"] == "ms");
  CHECK(report["findings"].empty());
  std::string text;
  render_text(s, text);
  CHECK(text.find("0.0.0.0:22") != std::string::npos);
  // Runs the kernel skipped (a transition, perhaps a CLOSE, never seen) are said, not hidden.
  CHECK(s["recursion_misses"] == 7);
  CHECK(text.find("skipped by the kernel (nested on a CPU) 7") != std::string::npos);
}

TEST_CASE("tcp: a not-recorded family is null") {
  TempRecording tmp;
  {
    auto writer = RecordingWriter::create(tmp.path);
    REQUIRE(writer);
    (*writer)->set_meta("start_ns", kStart);  // a recording without a window start is refused
    REQUIRE((*writer)->flush());
  }
  auto reader = RecordingReader::open(tmp.path);
  REQUIRE(reader);
  CHECK(build_section(**reader, kStart).is_null());
}

TEST_CASE("tcp: every problem of the contract yields its finding") {
  TempRecording tmp;
  {
    auto writer = RecordingWriter::create(tmp.path);
    REQUIRE(writer);
    (*writer)->set_meta("start_ns", kStart);  // a recording without a window start is refused
    auto &w = **writer;
    w.put_state("tcp", "counters", counters(120, 3, 1));
    Log2Histogram rto;
    for (int i = 0; i < 100; i++) rto.add(i < 90 ? 204 : 1000);
    w.put_state("tcp", "hist_rto_ms", rto.to_json("ms"));
    w.put_state("tcp", "flows",
                json::array({{{"saddr", "10.0.0.1"}, {"sport", 40000}, {"daddr", "10.0.0.2"}, {"dport", 443},
                              {"count", 100}, {"syn_count", 0}, {"state", "TCP_ESTABLISHED"}, {"max_backoff", 1}},
                             {{"saddr", "10.0.0.1"}, {"sport", 40001}, {"daddr", "10.0.0.3"}, {"dport", 5432},
                              {"count", 3}, {"syn_count", 3}, {"state", "TCP_SYN_SENT"}, {"max_backoff", 2}}}));
    w.put_state("tcp", "listeners",
                json::array({{{"addr", "127.0.0.1"}, {"port", 9100}, {"backlog_max", 2}, {"backlog", 3},
                              {"backlog_peak", 3}, {"overflows", 68}, {"pid", 4242}, {"comm", "server"},
                              {"syn_recv_peak", 0}}}));
    w.put_state("tcp", "netstat",
                json::array({{{"netns", 1}, {"delta", {{"TcpOutSegs", 1000}, {"ListenOverflows", 68}}},
                              {"unattributed_overflows", 0}}}));
    w.put_state("tcp", "close_wait",
                json::array({{{"pid", 777}, {"comm", "leaky"}, {"laddr", "10.0.0.1"}, {"lport", 8080},
                              {"raddr", "10.0.0.5"}, {"rport", 50000}, {"age_ms", 65000}, {"age_exact", true}},
                             {{"pid", 778}, {"comm", "healthy"}, {"laddr", "10.0.0.1"}, {"lport", 8081},
                              {"raddr", "10.0.0.5"}, {"rport", 50001}, {"age_ms", 5}, {"age_exact", true}}}));
    w.put_state("tcp", "time_wait",
                {{"count", 1500},
                 {"peak", 1600},
                 {"server", 1500},
                 {"client", 0},
                 {"by_port", json::array({{{"netns", 1}, {"side", "server"}, {"port", 80}, {"count", 1500}}})},
                 {"active_closer", "server"},
                 {"active_closer_window", "server"}});
    w.add_event(kStart + kSecond, "tcp", "reset_sent", {{"sport", 80}});
    REQUIRE(w.flush());
  }
  auto reader = RecordingReader::open(tmp.path);
  REQUIRE(reader);
  json report = report_of(**reader);
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

  const json *leak = finding(report, "close-wait-leak");
  REQUIRE(leak);
  CHECK(leak->at("evidence")["pid"] == 777);  // the 5 ms one is a close in progress, not a leak
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

  const json *connect = finding(report, "connect-timeout-risk");
  REQUIRE(connect);
  CHECK(connect->at("evidence")["max_backoff"] == 2);
  CHECK(connect->at("evidence")["target"] == "10.0.0.3:5432");
  CHECK(connect->at("evidence")["min_safe_connect_timeout_s"].get<double>() >= 3.0);  // 1 s + 2 s, plus an RTT

  CHECK(finding(report, "syn-flood") == nullptr);

  std::string text;
  render_text(s, text);
  CHECK(text.find("127.0.0.1:9100") != std::string::npos);
  CHECK(text.find("leaky") != std::string::npos);
}

TEST_CASE("tcp: SYN cookies make a syn-flood finding") {
  TempRecording tmp;
  {
    auto writer = RecordingWriter::create(tmp.path);
    REQUIRE(writer);
    (*writer)->set_meta("start_ns", kStart);  // a recording without a window start is refused
    auto &w = **writer;
    w.put_state("tcp", "counters", counters());
    w.put_state("tcp", "listeners",
                json::array({{{"addr", "0.0.0.0"}, {"port", 443}, {"syn_recv_peak", 4096}, {"syncookies", 900}}}));
    w.put_state("tcp", "netstat", json::array({{{"netns", 1}, {"delta", {{"SyncookiesSent", 900}}}}}));
    REQUIRE(w.flush());
  }
  auto reader = RecordingReader::open(tmp.path);
  REQUIRE(reader);
  json report = report_of(**reader);
  const json *flood = finding(report, "syn-flood");
  REQUIRE(flood);
  CHECK(flood->at("evidence")["syncookies_sent"] == 900);
  CHECK(flood->at("evidence")["listener"] == "0.0.0.0:443");
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
json report_with_events(const std::vector<json> &events, const json &states = json::object()) {
  TempRecording tmp;
  {
    auto writer = RecordingWriter::create(tmp.path);
    REQUIRE(writer);
    (*writer)->set_meta("start_ns", kStart);
    auto &w = **writer;
    w.put_state("tcp", "counters", counters());
    for (const auto &[name, value] : states.items()) w.put_state("tcp", name, value);
    for (const auto &e : events) {
      json data = e;
      std::string kind = data["kind"];
      uint64_t t = data["t_ns"];
      data.erase("kind");
      data.erase("t_ns");
      w.add_event(t, "tcp", kind, data);
    }
    REQUIRE(w.flush());
  }
  auto reader = RecordingReader::open(tmp.path);
  REQUIRE(reader);
  return report_of(**reader);
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
  json flows = json::array({{{"saddr", "10.0.0.1"}, {"sport", 40000}, {"daddr", "10.0.0.9"}, {"dport", 443},
                             {"count", 38}, {"syn_count", 2}, {"state", "TCP_ESTABLISHED"}, {"max_backoff", 2}},
                            {{"saddr", "10.0.0.1"}, {"sport", 40001}, {"daddr", "10.0.0.3"}, {"dport", 80},
                             {"count", 2}, {"syn_count", 0}, {"state", "TCP_ESTABLISHED"}, {"max_backoff", 1}}});
  json report = report_with_events({}, {{"counters", counters(40, 2, 0)}, {"flows", flows}});
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

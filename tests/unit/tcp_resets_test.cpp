// The reset recognisers (read-timeout, keepalive-race) on made-up reset events.
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

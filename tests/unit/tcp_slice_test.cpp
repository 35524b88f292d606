// tcp findings judged over a slice of the window: a leak gone by the end, overflows by slice.
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

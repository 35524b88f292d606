// The /proc checklist read against its window: kernel-log lines placed before or inside it, the
// since-boot netstat counters labelled with their namespace and set beside the tcp family's
// per-namespace counts, and kernel-log findings that never raise history as current.
#include <catch2/catch.hpp>

#include "record/recording.h"
#include "recording_fixture.h"
#include "report/html.h"
#include "report/report.h"
#include "report/snapshot_findings.h"
#include "report/snapshot_window.h"
#include "snapshot/snapshot.h"

using namespace triage;
using nlohmann::json;

namespace {

constexpr uint64_t kSecond = 1'000'000'000ULL;
constexpr uint64_t kWindowStart = 20'000 * kSecond;  // CLOCK_MONOTONIC, as the recording's meta holds it
constexpr uint64_t kWindowEnd = kWindowStart + 60 * kSecond;
constexpr uint64_t kHostNetns = 4026531833ULL;

json kmsg_line(double time_s, const std::string &text) { return {{"time", time_s}, {"level", 3}, {"text", text}}; }

// Three hours before the window: an OOM kill and a SYN flood. Inside it: a hung task.
json end_snapshot() {
  return {{"time_ns", 1},
          {"netstat", {{"TcpRetransSegs", 1}, {"ListenOverflows", 0}}},
          {"netstat_netns", kHostNetns},
          {"netstat_netns_is_pid1s", true},
          {"kmsg", json::array({kmsg_line(9'000.25, "Out of memory: Killed process 4242 (java)"),
                                kmsg_line(9'200.0, "TCP: request_sock_TCP: Possible SYN flooding on port 8080."),
                                kmsg_line(20'030.5, "INFO: task jbd2/sda1-8:312 blocked for more than 120 seconds.")})}};
}

json report_with_tcp_netstat() {
  json tcp = {{"netstat", json::array({{{"netns", kHostNetns}, {"name", ""}, {"delta", {{"TcpRetransSegs", 1}}}},
                                       {{"netns", 4026532100ULL}, {"name", "blue"},
                                        {"delta", {{"TcpRetransSegs", 338}, {"TcpOutSegs", 9000}}}}})}};
  return {{"snapshot", {{"start", nullptr}, {"end", end_snapshot()}}}, {"tcp", tcp}};
}

json findings_of(const json &report) {
  json findings = json::array();
  add_snapshot_findings(report, findings);
  return findings;
}

json finding(const json &findings, const std::string &id) {
  for (const auto &f : findings)
    if (f["id"] == id) return f;
  return nullptr;
}

}  // namespace

TEST_CASE("checklist: kernel-log lines are placed before or inside the window") {
  json report = report_with_tcp_netstat();
  place_snapshots_in_window(report, kWindowStart, kWindowEnd);
  const json &kmsg = report["snapshot"]["end"]["kmsg"];
  CHECK(kmsg[0]["in_window"] == false);
  CHECK(kmsg[0]["before_window_s"].get<double>() == Approx(10'999.8));
  CHECK(kmsg[0]["after_window_s"].is_null());
  CHECK(kmsg[1]["before_window_s"].get<double>() == Approx(10'800.0));
  CHECK(kmsg[2]["in_window"] == true);
  CHECK(kmsg[2]["before_window_s"].is_null());

  json late = {{"snapshot", {{"end", {{"kmsg", json::array({kmsg_line(20'062.0, "Killed process 1 (x)")})}}}}}};
  place_snapshots_in_window(late, kWindowStart, kWindowEnd);
  CHECK(late["snapshot"]["end"]["kmsg"][0]["in_window"] == false);
  CHECK(late["snapshot"]["end"]["kmsg"][0]["after_window_s"].get<double>() == Approx(2.0));
}

TEST_CASE("checklist: netstat counters say their namespace and sit beside the window's per-namespace counts") {
  json report = report_with_tcp_netstat();
  place_snapshots_in_window(report, kWindowStart, kWindowEnd);
  const json &during = report["snapshot"]["end"]["netstat_during_window"];
  REQUIRE(during.size() == 2);
  CHECK(during[0]["this_namespace"] == true);
  CHECK(during[1]["this_namespace"] == false);
  CHECK(during[1]["name"] == "blue");
  CHECK(during[1]["counters"]["TcpRetransSegs"] == 338);

  std::string text = render_snapshot_text(report["snapshot"]["end"]);
  INFO(text);
  CHECK(text.find("network namespace 4026531833 only (triage's own, PID 1's)") != std::string::npos);
  CHECK(text.find("netns 4026532100 (blue): TcpRetransSegs +338") != std::string::npos);
  CHECK(text.find("netns 4026531833 (the one above): TcpRetransSegs +1") != std::string::npos);

  // Without the tcp family there is nothing to set beside the counters, and nothing is invented.
  json alone = {{"snapshot", {{"end", end_snapshot()}}}};
  place_snapshots_in_window(alone, kWindowStart, kWindowEnd);
  CHECK(alone["snapshot"]["end"]["netstat_during_window"].is_null());
  CHECK(render_snapshot_text(alone["snapshot"]["end"]).find("during the window") == std::string::npos);
}

TEST_CASE("checklist: the text lists lines from before the window apart, with how long before") {
  json report = report_with_tcp_netstat();
  place_snapshots_in_window(report, kWindowStart, kWindowEnd);
  std::string text = render_snapshot_text(report["snapshot"]["end"]);
  INFO(text);
  size_t inside = text.find("inside the window:"), before = text.find("before the window (2 lines");
  REQUIRE(inside != std::string::npos);
  REQUIRE(before != std::string::npos);
  CHECK(inside < before);
  CHECK(text.find("blocked for more than", inside) < before);  // the hung task is the window's
  CHECK(text.find("(3h03m before) Out of memory", before) != std::string::npos);
  CHECK(text.find("the latest 3h00m before it started") != std::string::npos);

  // A standalone snapshot has no window: its lines are listed as dmesg shows them.
  std::string plain = render_snapshot_text(end_snapshot());
  CHECK(plain.find("before the window") == std::string::npos);
  CHECK(plain.find("Out of memory") != std::string::npos);
}

TEST_CASE("checklist: kernel-log findings raise only the window's lines, history at info with when") {
  json report = report_with_tcp_netstat();
  CHECK(findings_of(report).empty());  // not placed in a window: nothing said about when
  place_snapshots_in_window(report, kWindowStart, kWindowEnd);
  json findings = findings_of(report);
  json history = finding(findings, "kernel-log-before-window");
  REQUIRE(history.is_object());
  CHECK(history["severity"] == "info");
  CHECK(history["evidence"]["lines"] == 2);
  CHECK(history["evidence"]["latest_before_window_s"].get<double>() == Approx(10'800.0));
  CHECK(history["title"].get<std::string>().find("3h00m before it started") != std::string::npos);
  json hung = finding(findings, "hung-task");
  REQUIRE(hung.is_object());
  CHECK(hung["severity"] == "warning");
  for (const auto &f : findings) CHECK(f["id"] != "oom-kill");

  // The same OOM line three hours old, alone: info only, never a warning.
  json old_only = report_with_tcp_netstat();
  old_only["snapshot"]["end"]["kmsg"].erase(2);
  place_snapshots_in_window(old_only, kWindowStart, kWindowEnd);
  for (const auto &f : findings_of(old_only)) CHECK(f["severity"] == "info");
}

TEST_CASE("checklist: build_report places the kernel log and the HTML shows the two lists") {
  test::RecordingFixture fx(kWindowStart);
  {
    auto &w = fx.writer();
    w.set_meta("end_ns", kWindowEnd);
    w.set_meta("ncpu", 2);
    w.put_snapshot("start", end_snapshot());
    w.put_snapshot("end", end_snapshot());
  }
  json report = fx.report();
  CHECK(report["snapshot"]["start"]["kmsg"][0]["in_window"] == false);
  CHECK(report["snapshot"]["end"]["kmsg"][2]["in_window"] == true);
  CHECK(finding(report["findings"], "hung-task").is_object());

  std::string html = render_html(report);
  CHECK(html.find("Kernel messages from before the window (2, not part of it)") != std::string::npos);
  CHECK(html.find("3h03m before") != std::string::npos);
  CHECK(html.find("network namespace 4026531833 only (the one triage ran in, PID 1") != std::string::npos);
  std::string text = render_text(report);
  CHECK(text.find("before the window (2 lines") != std::string::npos);
}

TEST_CASE("elapsed_text reads like a person would say it") {
  CHECK(elapsed_text(4.24) == "4.2s");
  CHECK(elapsed_text(42) == "42s");
  CHECK(elapsed_text(725) == "12m05s");
  CHECK(elapsed_text(11'520) == "3h12m");
  CHECK(elapsed_text(187'200) == "2d04h");
  CHECK(elapsed_text(-1) == "unknown");
}

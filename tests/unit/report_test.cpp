// The report model built from a made-up recording: JSON shape per INTERFACE.md, sched section
// arithmetic, findings just below and above their thresholds, and the golden text rendering.
#include <catch2/catch.hpp>

#include <cstdio>

#include "golden.h"
#include "record/event_batch.h"
#include "record/recording.h"
#include "sched/sched_abi.h"
#include "recording_fixture.h"
#include "sched_rows_util.h"
#include "report/html.h"
#include "report/outliers.h"
#include "report/report.h"
#include "report/text_util.h"

using namespace triage;

namespace {

constexpr uint64_t kStart = 1'000'000'000;

// The report of a two-second window on a 2-CPU box with the given average runnable and blocked
// tasks.
json sched_report(double runnable, double blocked, double cpu0_busy = 40, double cpu1_busy = 35) {
  test::RecordingFixture fx(kStart);
  auto &w = fx.writer();
  fx.set_window_meta(kStart + 2'000'000'000);
  w.set_probes({{"sched_switch", "sched", "tracepoint sched:sched_switch", "tp_btf", "attached", ""},
                {"sched_seed", "sched", "iter/task", "iter", "skipped", "disabled by --no-probe"}});
  for (int i = 1; i <= 2; i++) {
    w.add_series(kStart + i * 1'000'000'000ULL, "sched", "load",
                 {{"dt_s", 1.0}, {"running", (cpu0_busy + cpu1_busy) / 100}, {"runnable", runnable},
                  {"blocked", blocked}, {"blocked_io", blocked}, {"blocked_mem", 0.0}, {"blocked_other", 0.0}});
    w.add_series(kStart + i * 1'000'000'000ULL, "sched", "cpus",
                 {{"dt_s", 1.0},
                  {"cpus", {{{"cpu", 0}, {"busy_pct", cpu0_busy}, {"runnable", runnable / 2}},
                            {{"cpu", 1}, {"busy_pct", cpu1_busy}, {"runnable", runnable / 2}}}}});
  }
  // As the sampler writes them: each interval's waits, and the per-process totals since attach.
  sched_test::write_config(w);
  sched_test::write_waits(w, kStart + 1'000'000'000ULL, "runq", {20, 30});
  sched_test::write_waits(w, kStart + 2'000'000'000ULL, "runq", {30, 3000});
  sched_test::write_waits(w, kStart + 2'000'000'000ULL, "d_io", {100, 200});
  sched_test::write_processes(w, kStart + 2'000'000'000ULL,
                              {sched_test::runq_row(42, "spin\x1b[2J", "/work", 3'000'000, 4, 2'900'000),
                               sched_test::dstate_io_row(7, "dd", "/", 300'000, 2, 200'000)});
  w.add_event(kStart + 1'500'000'000, "sched", "runq",
              {{"pid", 42}, {"tgid", 42}, {"comm", "spin\x1b[2J"}, {"cpu", 1}, {"duration_ns", 12'000'000}, {"waker_pid", 0},
               {"waker_comm", ""}});
  sched::SchedCounters counters;
  counters.events_produced = 1;
  sched_test::write_counters(w, kStart + 2'000'000'000ULL, counters);
  return fx.report();
}

bool has_finding(const json &report, const std::string &id) {
  for (const auto &f : report["findings"])
    if (f["id"] == id) return true;
  return false;
}

}  // namespace

TEST_CASE("report: top-level keys are exactly those of INTERFACE.md") {
  auto report = sched_report(0.2, 0.0);
  std::vector<std::string> keys;
  for (const auto &[k, v] : report.items()) keys.push_back(k);
  std::sort(keys.begin(), keys.end());
  CHECK(keys == std::vector<std::string>{"block", "findings", "lost_events", "oom", "overhead", "probes", "sched",
                                         "schema", "snapshot", "tcp", "window"});
  CHECK(report["schema"] == "triage.report/1");
  for (const char *k : {"start_ns", "end_ns", "duration_s", "host", "kernel", "ncpu", "interval_s"})
    CHECK(report["window"].contains(k));
  CHECK(report["window"]["duration_s"] == Approx(2.0));
  CHECK(report["window"]["cut_short"] == false);
  for (const char *k : {"name", "family", "hook", "method", "status", "reason"}) CHECK(report["probes"][0].contains(k));
  CHECK(report["lost_events"]["by_family"].contains("sched"));
  CHECK(report["lost_events"]["by_family"]["oom"].is_null());
  for (const char *k : {"bpf_run_ns", "bpf_run_cnt", "cpu_pct"}) CHECK(report["overhead"].contains(k));
  CHECK(report["snapshot"].contains("start"));
  CHECK(report["snapshot"].contains("end"));
  for (const char *family : {"block", "tcp", "oom"}) CHECK(report[family].is_null());
}

TEST_CASE("report: the sched section per INTERFACE.md") {
  auto s = sched_report(0.2, 0.1)["sched"];
  for (const char *k : {"runq_latency", "dstate_time", "load", "top_runq", "top_dstate", "cpus"}) CHECK(s.contains(k));
  REQUIRE(s["load"].size() == 2);
  for (const char *k : {"t", "runnable", "running", "blocked"}) CHECK(s["load"][0].contains(k));
  CHECK(s["load"][0]["t"] == Approx(1.0));
  CHECK(s["load_avg"]["runnable"] == Approx(0.2));
  CHECK(s["dstate_time"]["count"] == 2);  // the D kinds merged
  CHECK(s["cpus"][0]["busy_pct"] == Approx(40));
  for (const char *k : {"pid", "comm", "cgroup", "total_ns", "count", "max_ns"}) CHECK(s["top_runq"][0].contains(k));
  CHECK(s["outliers"].size() == 1);
  CHECK(s["outliers"][0]["t"] == Approx(1.5));
}

TEST_CASE("findings: cpu-saturation just below and above its threshold") {
  CHECK(!has_finding(sched_report(1.99, 0, 40, 35), "cpu-saturation"));
  auto above = sched_report(2.01, 0, 40, 35);
  REQUIRE(has_finding(above, "cpu-saturation"));
  CHECK(above["findings"][0]["severity"] == "critical");
  for (const char *k : {"id", "severity", "title", "evidence", "advice"}) CHECK(above["findings"][0].contains(k));
}

TEST_CASE("findings: io-saturation needs at least one blocked task that outweighs the runnable ones") {
  CHECK(!has_finding(sched_report(0.1, 0.99, 40, 35), "io-saturation"));
  CHECK(has_finding(sched_report(0.1, 1.01, 40, 35), "io-saturation"));
  CHECK(!has_finding(sched_report(1.5, 1.2, 40, 35), "io-saturation"));
}

TEST_CASE("findings: cpu-imbalance needs one CPU at 90% and a 50-point gap") {
  CHECK(!has_finding(sched_report(0.1, 0, 89, 10), "cpu-imbalance"));
  CHECK(!has_finding(sched_report(0.1, 0, 95, 46), "cpu-imbalance"));
  CHECK(has_finding(sched_report(0.1, 0, 95, 44), "cpu-imbalance"));
}

TEST_CASE("findings: a quiet window has none") {
  CHECK(sched_report(0.05, 0.02, 5, 3)["findings"].empty());
}

TEST_CASE("report text: matches the golden rendering and no escape byte reaches the terminal") {
  std::string text = render_text(sched_report(0.2, 0.1));
  CHECK(text.find('\x1b') == std::string::npos);
  CHECK(text.find("spin\\x1b[2J") != std::string::npos);
  check_golden(text, "sched_report.txt");
}

TEST_CASE("printable: control bytes and invalid UTF-8 are escaped, valid UTF-8 kept") {
  CHECK(printable("plain") == "plain");
  CHECK(printable("a\x1b[31mb") == "a\\x1b[31mb");
  CHECK(printable("line\nbreak") == "line\\x0abreak");
  CHECK(printable("caf\xc3\xa9") == "caf\xc3\xa9");
  CHECK(printable("bad\xff") == "bad\\xff");
  CHECK(printable("c1\xc2\x9b") == "c1\\xc2\\x9b");
}

TEST_CASE("outliers: beyond the limit the worst are kept, in time order") {
  json rows = json::array();
  for (int i = 0; i < 10; i++) rows.push_back({{"t", i}, {"duration_ns", (i * 7) % 10}});
  json kept = keep_worst(rows, 3, "duration_ns");
  REQUIRE(kept.size() == 3);
  // durations by t: 0 7 4 1 8 5 2 9 6 3 -> the worst three are 9 (t=7), 8 (t=4), 7 (t=1)
  CHECK(kept[0]["t"] == 1);
  CHECK(kept[1]["t"] == 4);
  CHECK(kept[2]["t"] == 7);
  CHECK(keep_worst(rows, 20, "duration_ns") == rows);
}

TEST_CASE("sched outliers from raw event blocks: the worst kept, in time order, with all counted") {
  test::RecordingFixture fx(kStart, "blocks.db");
  {
    auto &w = fx.writer();
    w.set_meta("end_ns", kStart + 2'000'000'000);
    w.set_meta("ncpu", 2);
    sched_test::write_config(w);
    sched::SchedCounters counters;
    counters.events_produced = 1000;
    sched_test::write_counters(w, kStart + 2'000'000'000, counters);
    EventBatch batch("sched", kSchedEventLayout, sizeof(sched_event), 64);
    batch.begin(w);
    for (uint32_t i = 0; i < 1000; i++) {
      sched_event e{};
      e.end_ns = kStart + 1'000'000ULL * i;
      e.duration_ns = (i * 7919ULL) % 1000 * 1000;  // a shuffled 0..999 us
      e.pid = e.tgid = 100 + i;
      e.kind = SCHED_WAIT_RUNQ;
      std::snprintf(e.comm, sizeof e.comm, "w%u", i);
      batch.add(&e, sizeof e, e.end_ns);
    }
    batch.end();
  }
  json s = fx.report()["sched"];
  CHECK(s["outlier_count"] == 1000);
  const json &kept = s["outliers"];
  REQUIRE(kept.size() == 200);
  double last_t = -1;
  for (const auto &row : kept) {
    CHECK(row["duration_ns"].get<uint64_t>() >= 800'000);  // the 200 longest of 0..999 us
    CHECK(row["t"].get<double>() > last_t);
    CHECK(row["kind"] == "runq");
    CHECK(row["comm"].get<std::string>().rfind("w", 0) == 0);
    last_t = row["t"].get<double>();
  }
}

TEST_CASE("outliers: streamed, the same rows are kept while holding no more than the limit") {
  json rows = json::array();
  for (int i = 0; i < 1000; i++) rows.push_back({{"t", i}, {"duration_ns", (i * 7919) % 1009}});
  WorstRows streamed(25);
  size_t built = 0;
  for (const auto &r : rows)
    streamed.offer(r["duration_ns"].get<uint64_t>(), [&] {
      built++;
      return r;
    });
  CHECK(streamed.take() == keep_worst(rows, 25, "duration_ns"));
  CHECK(built < 200);  // rows that cannot make the list are never built
  WorstRows few(20);
  for (const auto &r : json::array({rows[0], rows[1]})) few.offer(r["duration_ns"].get<uint64_t>(), [&] { return r; });
  CHECK(few.take() == json::array({rows[0], rows[1]}));
}

TEST_CASE("report: the verdict names a cause and lists the findings it explains under it, not beside it") {
  json report = sched_report(0.2, 0.0);
  report["findings"] = json::array(
      {{{"id", "server-saturated"}, {"severity", "critical"}, {"title", "nginx is CPU-bound: too few workers"},
        {"evidence", json::object()}, {"advice", "more workers"}, {"explains", {"listen-overflow"}},
        {"first_t", 1.0}, {"last_t", 2.0}, {"peak_t", 1.0}},
       {{"id", "listen-overflow"}, {"severity", "critical"}, {"title", "Accept queue overflowed 40 times"},
        {"evidence", json::object()}, {"advice", "accept faster"}, {"explained_by", "server-saturated"},
        {"first_t", 1.0}, {"last_t", 2.0}, {"peak_t", 1.0}},
       {{"id", "retransmits"}, {"severity", "warning"}, {"title", "Unrelated retransmits"},
        {"evidence", json::object()}, {"advice", "check the link"}, {"first_t", 1.0}, {"last_t", 2.0}, {"peak_t", 1.0}}});
  std::string text = render_text(report);
  std::string verdict = text.substr(text.find("VERDICT"), text.find("probes attached") - text.find("VERDICT"));
  INFO(verdict);
  CHECK(verdict.find("[CRITICAL] nginx is CPU-bound") != std::string::npos);
  CHECK(verdict.find("      which explains: Accept queue overflowed 40 times (listen-overflow)") != std::string::npos);
  CHECK(verdict.find("[CRITICAL] Accept queue") == std::string::npos);  // not a verdict of its own
  CHECK(verdict.find("[warning] Unrelated retransmits") != std::string::npos);
  CHECK(text.find("explained by the finding above: [critical] Accept queue overflowed 40 times") != std::string::npos);

  std::string html = render_html(report);
  std::string html_verdict = html.substr(html.find(R"(id="verdict")"), html.find(R"(id="findings")") - html.find(R"(id="verdict")"));
  CHECK(html_verdict.find(R"(<ul class="explains"><li>which explains: Accept queue overflowed 40 times)") != std::string::npos);
  CHECK(html.find(R"(class="finding critical explained")") != std::string::npos);
}

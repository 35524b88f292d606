// The recording's size cap, its in-memory continuation after a write error, and the report's
// per-family event accounting and missing-probe lines, from made-up recordings.
#include <catch2/catch.hpp>

#include <sys/stat.h>

#include "core/loss_rows.h"
#include "record/recording.h"
#include "report/report.h"
#include "recording_fixture.h"
#include "sched_rows_util.h"

using namespace triage;

namespace {

constexpr uint64_t kStart = 1'000'000'000;

void write_window(RecordingWriter &w) {
  w.set_meta("start_ns", kStart);
  w.set_meta("end_ns", kStart + 2'000'000'000);
  w.set_meta("end_reason", "duration");
  w.set_meta("ncpu", 2);
  w.set_probes({{"sched_switch", "sched", "tracepoint sched:sched_switch", "tp_btf", "attached", ""},
                {"block_rq_issue", "block", "tracepoint block:block_rq_issue", "tp_btf", "skipped",
                 "disabled by --no-probe"}});
}

uint64_t count_events(const RecordingReader &r) {
  uint64_t n = 0;
  r.for_each_event("sched", "", [&](uint64_t, const std::string &, const json &) { n++; });
  return n;
}

}  // namespace

TEST_CASE("recording: the size cap stops events first, counts them, and keeps the counters") {
  test::RecordingFixture fx(std::nullopt, "cap.db");  // write_window() writes the window's start
  auto &w = fx.writer();
  const uint64_t cap = 128 * 1024;
  w.set_size_cap(cap);
  write_window(w);
  const json row = {{"pid", 1}, {"comm", std::string(100, 'x')}, {"duration_ns", 5}};
  for (int i = 0; i < 5000; i++) {
    w.add_event(kStart + i, "sched", "runq", row);
    if (i % 500 == 0) fx.flush();
  }
  w.add_series(kStart + 1, "sched", "load", {{"dt_s", 1.0}});
  sched_test::write_config(w);
  sched::SchedCounters counters;
  counters.events_produced = counters.events_delivered = 5000;
  sched_test::write_counters(w, kStart + 1, counters);
  w.set_meta("size_cap", w.size_cap_json());
  fx.flush();
  CHECK(w.size_cap_reached());
  struct stat st {};
  REQUIRE(::stat(fx.path().c_str(), &st) == 0);
  CHECK(static_cast<uint64_t>(st.st_size) <= cap);

  auto reader = fx.reader();
  uint64_t written = count_events(*reader);
  json cap_json = w.size_cap_json();
  uint64_t not_written = cap_json["events_not_written"]["sched"];
  CHECK(written > 100);
  CHECK(written + not_written == 5000);
  CHECK(read_counters<sched::SchedCounters>(*reader, "sched", sched::kCountersTable).events_produced == 5000);
  json report = build_report(*reader);
  CHECK(report["window"]["size_cap"]["reached"] == true);
  CHECK(report["lost_events"]["families"]["sched"]["not_written"] == not_written);
  std::string text = render_text(report);
  CHECK(text.find("reached its size cap") != std::string::npos);
  CHECK(text.find("not written (size cap)") != std::string::npos);
}

TEST_CASE("recording: after a write error the window goes on in memory, the file stays without its end") {
  test::RecordingFixture fx(kStart, "mem.db");
  auto &w = fx.writer();
  w.add_event(kStart + 1, "sched", "runq", {{"pid", 1}});
  fx.flush();
  REQUIRE(w.continue_in_memory().ok());
  CHECK(w.in_memory());
  write_window(w);
  w.set_meta("write_error", "database or disk is full");
  w.add_event(kStart + 2, "sched", "runq", {{"pid", 2}});
  fx.flush();

  auto memory = RecordingReader::of_memory(w);
  CHECK(count_events(*memory) == 2);  // the committed event was copied, the new one added
  json report = build_report(*memory);
  CHECK(report["window"]["cut_short"] == false);
  CHECK(render_text(report).find("could not be completed (database or disk is full)") != std::string::npos);

  auto file = fx.reader();
  CHECK(count_events(*file) == 1);
  json on_disk = build_report(*file);
  CHECK(on_disk["window"]["cut_short"] == true);
  CHECK(on_disk["window"]["end_reason"].get<std::string>().rfind("incomplete", 0) == 0);
}

TEST_CASE("report: per-family accounting, and what a missing probe hides") {
  test::RecordingFixture fx(std::nullopt);  // write_window() writes the window's start
  auto &w = fx.writer();
  write_window(w);
  // The recorder's tables of the family's account (Family::loss(), totals since attach) at 1 s and
  // 2 s: the report sums the intervals of its slice.
  sched_test::write_config(w);
  DeltaTable<LossRow> loss("sched", kLossTable);
  DeltaTable<DroppedRow> dropped("sched", kDroppedTable);
  loss.write(kStart + 1'000'000'000, {LossRow{{}, 400, 300, 100}}, w);
  dropped.write(kStart + 1'000'000'000, {{"proc_map_full", 1}, {"task_state_missing", 0}}, w);
  loss.write(kStart + 2'000'000'000, {LossRow{{}, 1000, 700, 300}}, w);
  dropped.write(kStart + 2'000'000'000, {{"proc_map_full", 4}, {"task_state_missing", 0}}, w);
  fx.flush();
  auto reader = fx.reader();
  reader->set_slice({kStart + 1'000'000'000, kStart + 2'000'000'000});
  const json second = build_report(*reader)["lost_events"]["families"]["sched"];
  CHECK(second["produced"] == 600);
  CHECK(second["lost"] == 200);
  CHECK(second["dropped"]["proc_map_full"] == 3);
  reader->set_slice({});
  json report = build_report(*reader);
  const auto &sched = report["lost_events"]["families"]["sched"];
  CHECK(sched["produced"] == 1000);
  CHECK(sched["delivered"] == 700);
  CHECK(sched["lost"] == 300);
  CHECK(sched["dropped"]["proc_map_full"] == 4);
  CHECK(report["lost_events"]["families"]["oom"].is_null());
  CHECK(report["lost_events"]["total"] == 300);
  CHECK(report["probes"][1]["hides"].get<std::string>().find("disk latency") != std::string::npos);
  CHECK_FALSE(report["probes"][0].contains("hides"));
  std::string text = render_text(report);
  CHECK(text.find("sched events: 1000 produced, 700 delivered, 300 lost (ring buffer full); map full, not tracked: "
                  "proc_map_full 4") != std::string::npos);
  CHECK(text.find("missing: block_rq_issue (block, skipped: disabled by --no-probe) — hidden: the whole block "
                  "section") != std::string::npos);
}

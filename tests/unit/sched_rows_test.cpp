// The sched family's rows as the recording stores them: compact (fields at their default left
// out) and read back exactly, and summed over slices as the report reads them.
#include <catch2/catch.hpp>

#include "record/recording.h"
#include "report/report.h"
#include "sched/sched_rows.h"
#include "sched/sched_report.h"
#include "recording_fixture.h"
#include "sched_rows_util.h"

using namespace triage;

TEST_CASE("sched rows: a process row leaves its defaults out and reads back the same") {
  sched::ProcessRow row = sched_test::runq_row(42, "spin", "", 3'000'000, 4, 2'900'000);
  row.oncpu_ns = 7;
  json stored = row;
  CHECK(stored.size() == 6);  // pid, comm, the three run-queue numbers, oncpu_ns
  CHECK(!stored.contains("cgroup"));
  CHECK(!stored.contains("d_io_total_ns"));
  auto back = stored.get<sched::ProcessRow>();
  CHECK(json(back) == stored);
  CHECK(back.runq_max_ns == 2'900'000);
  CHECK(back.d_mem_count == 0);
  CHECK(back.cgroup.empty());
  // A zero that matters is never lost: pid 0 reads back as 0 whether written or not.
  CHECK(json::object().get<sched::ProcessRow>().pid == 0);
}

namespace {

constexpr uint64_t kStart = 1'000'000'000, kSecond = 1'000'000'000;

// Six 1 s intervals on 2 CPUs: run-queue contention (runnable 5) in the 3rd and 4th only; a
// spinner's waits and CPU time grow in them, a daemon's in every interval.
void write_burst(test::RecordingFixture &fx) {
  auto &w = fx.writer();
  w.set_meta("end_ns", kStart + 6 * kSecond);
  w.set_meta("ncpu", 2);
  sched_test::write_config(w);
  DeltaTable<sched::ProcessRow> processes("sched", sched::kProcessesTable);
  DeltaTable<sched::SchedCounters> counters("sched", sched::kCountersTable);
  sched::ProcessRow spinner = sched_test::runq_row(100, "spinner", "/", 0, 0, 0), daemon = sched_test::runq_row(7, "daemon", "/", 0, 0, 0);
  sched::SchedCounters totals;
  for (uint64_t i = 1; i <= 6; i++) {
    const uint64_t t = kStart + i * kSecond;
    const bool burst = i == 3 || i == 4;
    w.add_series(t, "sched", "load", {{"dt_s", 1.0}, {"running", 2.0}, {"runnable", burst ? 5.0 : 0.1}, {"blocked", 0.0}});
    sched_test::write_waits(w, t, "runq", burst ? std::vector<uint64_t>{30'000, 40'000, 50'000} : std::vector<uint64_t>{5});
    if (burst) {
      spinner.runq_total_ns += 2'000'000'000, spinner.runq_count += 100;
      spinner.runq_max_ns = std::max<uint64_t>(spinner.runq_max_ns, 30'000'000 * i);
      spinner.oncpu_ns += 900'000'000;
    }
    daemon.runq_total_ns += 1000 * i, daemon.runq_count += 1, daemon.oncpu_ns += 1'000'000;
    processes.write(t, {spinner, daemon}, w);
    totals.switches += 1000 * i, totals.wakeups += 10;
    counters.write(t, {totals}, w);
  }
  fx.close();
}

const json *finding_of(const json &report, const std::string &id) {
  for (const auto &f : report["findings"])
    if (f["id"] == id) return &f;
  return nullptr;
}

}  // namespace

TEST_CASE("sched slices: a burst is judged where it happened, and the slices add up to the window") {
  test::RecordingFixture fx(kStart, "burst.db");
  write_burst(fx);
  auto reader = fx.reader();
  auto &r = *reader;
  const json whole = build_report(r);
  const json *f = finding_of(whole, "cpu-saturation");
  REQUIRE(f);  // two saturated intervals of six: a burst, though the average is under the CPUs
  CHECK((*f)["first_t"] == 3.0);
  CHECK((*f)["last_t"] == 4.0);
  CHECK((*f)["peak_t"] == 3.0);

  std::vector<json> slices;
  for (auto [from, to] : {std::pair{0, 2}, std::pair{2, 4}, std::pair{4, 6}}) {
    r.set_slice({kStart + from * kSecond, kStart + to * kSecond});
    slices.push_back(build_report(r));
  }
  // (2, 4] holds both saturated intervals; (4, 6] one (not sustained), (0, 2] none.
  CHECK(finding_of(slices[0], "cpu-saturation") == nullptr);
  REQUIRE(finding_of(slices[1], "cpu-saturation"));
  CHECK((*finding_of(slices[1], "cpu-saturation"))["first_t"] == 3.0);
  CHECK(finding_of(slices[2], "cpu-saturation") == nullptr);
  CHECK(slices[0]["sched"]["top_runq"][0]["pid"] == 7);  // the spinner had not waited yet
  CHECK(slices[1]["sched"]["top_runq"][0]["pid"] == 100);
  CHECK(slices[1]["sched"]["top_runq"][0]["max_ns"] == 120'000'000);

  uint64_t switches = 0, runq_count = 0, spinner_ns = 0, spinner_cpu = 0, daemon_count = 0;
  for (const auto &s : slices) {
    switches += s["sched"]["switches"].get<uint64_t>();
    runq_count += s["sched"]["runq_latency"]["count"].get<uint64_t>();
    for (const auto &p : s["sched"]["top_runq"]) {
      if (p["pid"] == 100) spinner_ns += p["total_ns"].get<uint64_t>();
      if (p["pid"] == 7) daemon_count += p["count"].get<uint64_t>();
    }
    for (const auto &p : s["sched"]["top_cpu"])
      if (p["pid"] == 100) spinner_cpu += p["cpu_ns"].get<uint64_t>();
  }
  CHECK(switches == whole["sched"]["switches"].get<uint64_t>());
  CHECK(switches == 21'000);
  CHECK(runq_count == whole["sched"]["runq_latency"]["count"].get<uint64_t>());
  CHECK(runq_count == 10);
  CHECK(spinner_ns == 4'000'000'000);
  CHECK(spinner_cpu == 1'800'000'000);
  CHECK(daemon_count == 6);
  CHECK(whole["sched"]["top_runq_total"] == 2);
  CHECK(slices[0]["sched"]["top_cpu_total"] == 1);
}

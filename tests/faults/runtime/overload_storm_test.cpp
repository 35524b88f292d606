// An event storm far beyond what userspace drains: the run finishes, memory stays bounded, and
// every event the BPF side produced is either delivered to userspace or counted as lost, per
// family, in the recording and the report.
#include <catch2/catch.hpp>

#include <signal.h>

#include <cstdio>

#include "fault_support.h"
#include "test_binary.h"

namespace {
// The recorder's peak RSS during a storm. Ring buffers (1 MiB for sched) are drained every
// 100 ms into one SQLite transaction per interval; nothing grows with the event rate.
constexpr long kPeakRssBoundKib = 64 * 1024;
// The same run under AddressSanitizer (tools/test's second live pass) measured 65-111 MiB against
// the shipped binary's 24 MiB: shadow memory, redzones and the quarantine count too. It still has
// a bound, so unbounded growth fails there as well; the 64 MiB promise is checked on the shipped
// binary in the first pass.
constexpr long kSanitizedPeakRssBoundKib = 3 * kPeakRssBoundKib;
}  // namespace

TEST_CASE("overload: a switch storm with a stalled consumer loses events, and counts every one") {
  live::TempDir dir;
  std::string db = dir.file("storm.db");
  // Threshold 0: every run-queue wait is an outlier for the ring buffer.
  live::Recording rec(db, {"-d", "5", "--probes", "sched", "--threshold-ms", "0", "-i", "1", "--max-size", "4GiB"});
  REQUIRE(rec.wait_attached());
  {
    faults::SwitchStorm storm(2);
    live::sleep_s(1.0);
    // Userspace stalled for a second (as on a starved machine): the ring buffer fills within
    // milliseconds and everything after that must be counted as lost, not vanish.
    rec.signal(SIGSTOP);
    live::sleep_s(1.0);
    rec.signal(SIGCONT);
    live::sleep_s(1.5);
  }
  int exit_code = rec.wait();
  INFO(rec.stderr_text());
  REQUIRE(exit_code == 0);

  auto report = live::report_json(db);
  const auto &sched = report["lost_events"]["families"]["sched"];
  INFO(sched.dump());
  uint64_t produced = sched["produced"], delivered = sched["delivered"], lost = sched["lost"];
  uint64_t not_written = sched["not_written"];
  std::printf("storm: produced %llu, delivered %llu, lost %llu, not written %llu; peak RSS %ld KiB\n",
              static_cast<unsigned long long>(produced), static_cast<unsigned long long>(delivered),
              static_cast<unsigned long long>(lost), static_cast<unsigned long long>(not_written), rec.max_rss_kib());
  CHECK(produced > 0);
  CHECK(lost > 0);                            // the stalled second overflowed the ring buffer
  CHECK(produced == delivered + lost);        // nothing disappears unaccounted
  CHECK(report["lost_events"]["by_family"]["sched"] == lost);
  CHECK(report["lost_events"]["total"].get<uint64_t>() >= lost);
  // Every delivered event is in the recording (the cap was far away).
  CHECK(not_written == 0);
  CHECK(faults::query_int(db, faults::kSchedEventsStored) == static_cast<int64_t>(delivered));

  CHECK(rec.max_rss_kib() > 0);
  if (triage_test_binary_sanitized()) {
    std::printf("storm: sanitized binary, so the RSS bound is %ld KiB instead of %ld KiB\n",
                kSanitizedPeakRssBoundKib, kPeakRssBoundKib);
    CHECK(rec.max_rss_kib() < kSanitizedPeakRssBoundKib);
  } else {
    CHECK(rec.max_rss_kib() < kPeakRssBoundKib);
  }

  // The text report says how many were lost, per family.
  std::string line = "sched events: " + std::to_string(produced) + " produced, " + std::to_string(delivered) +
                     " delivered, " + std::to_string(lost) + " lost";
  CHECK(rec.stdout_text().find(line) != std::string::npos);
}

// --max-size: past the cap the recorder stops adding timeline events, counts what it did not
// write, keeps the aggregate rows, and the recording and the report say the cap was reached.
#include <catch2/catch.hpp>

#include "test_binary.h"
#include "fault_support.h"

TEST_CASE("overload: a tiny --max-size is reached, counted and reported") {
  live::TempDir dir;
  std::string db = dir.file("capped.db");
  const uint64_t cap = 512 * 1024;
  live::Recording rec(db, {"-d", "3", "--probes", "sched", "--threshold-ms", "0", "-i", "0.5", "--max-size", "512KiB"});
  REQUIRE(rec.wait_attached());
  {
    faults::SwitchStorm storm(1);
    live::sleep_s(2.0);
  }
  int exit_code = rec.wait();
  INFO(rec.stderr_text());
  REQUIRE(exit_code == 0);

  auto report = live::report_json(db);
  const auto &window = report["window"];
  const auto &sched = report["lost_events"]["families"]["sched"];
  INFO(window.dump() << "\n" << sched.dump());
  REQUIRE(window["size_cap"].is_object());
  CHECK(window["size_cap"]["max_bytes"] == cap);
  CHECK(window["size_cap"]["reached"] == true);
  uint64_t delivered = sched["delivered"], not_written = sched["not_written"];
  CHECK(not_written > 0);
  // Delivered events are either in the file or counted as not written.
  CHECK(faults::query_int(db, faults::kSchedEventsStored) ==
        static_cast<int64_t>(delivered - not_written));
  // The aggregates went on after the cap: a load row for (nearly) every interval.
  CHECK(report["sched"]["load"].size() >= 4);
  // The cap holds: the aggregate rows written past it are a few kilobytes.
  CHECK(faults::file_size(db) <= cap + cap / 4);
  CHECK(rec.stdout_text().find("reached its size cap") != std::string::npos);
  CHECK(rec.stdout_text().find("not written (size cap)") != std::string::npos);
}

TEST_CASE("overload: --max-size rejects nonsense with exit 2") {
  live::TempDir dir;
  auto r = live::run({triage_test_binary(), "record", "-o", dir.file("x.db"), "-d", "1", "--max-size", "lots"});
  CHECK(r.exit_code == 2);
  r = live::run({triage_test_binary(), "record", "-o", dir.file("y.db"), "-d", "1", "--max-size", "1KiB"});
  CHECK(r.exit_code == 2);
}

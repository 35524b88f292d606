// Two triage processes at once: both work (nothing of triage's is global: no pinned maps, no
// fixed names), each with its own whole recording.
#include <catch2/catch.hpp>

#include "fault_support.h"

TEST_CASE("runtime: two recorders at once both record the window") {
  live::TempDir dir;
  live::Recording first(dir.file("first.db"), {"-d", "2", "-i", "0.5"});
  live::Recording second(dir.file("second.db"), {"-d", "2", "-i", "0.5"});
  REQUIRE(first.wait_attached());
  REQUIRE(second.wait_attached());
  int first_exit = first.wait(), second_exit = second.wait();
  INFO(first.stderr_text() << "\n" << second.stderr_text());
  CHECK(first_exit == 0);
  CHECK(second_exit == 0);
  for (const char *name : {"first.db", "second.db"}) {
    auto report = live::report_json(dir.file(name));
    INFO(name);
    CHECK(report["window"]["cut_short"] == false);
    for (const auto &p : report["probes"])
      if (p["family"] == "sched" || p["family"] == "block") CHECK(p["status"] == "attached");
    CHECK(report["sched"]["load"].size() >= 3);
    CHECK(report["sched"]["runq_latency"]["count"].get<uint64_t>() > 0);
  }
}

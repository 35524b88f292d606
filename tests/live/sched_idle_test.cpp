// An idle, healthy machine must not produce a warning or a critical finding.
#include <catch2/catch.hpp>

#include "live_support.h"

TEST_CASE("record: an idle machine yields no warning or critical finding") {
  live::TempDir dir;
  live::Recording rec(dir.file("idle.db"), {"-d", "3"});
  REQUIRE(rec.wait_attached());
  REQUIRE(rec.wait() == 0);
  auto report = live::report_json(dir.file("idle.db"));
  for (const auto &f : report["findings"]) {
    INFO("finding: " << f.dump());
    CHECK(f["severity"] == "info");
  }
  CHECK(report["sched"].is_object());
  CHECK(report["lost_events"]["total"] == 0);
}

// A probe that cannot attach (switched off with --no-probe, as on a kernel without it), for
// each probe in turn: the rest of the window is recorded, and the report names what is missing
// and what that hides.
#include <catch2/catch.hpp>

#include "test_binary.h"
#include "fault_support.h"

TEST_CASE("runtime: each probe missing in turn") {
  auto listed = live::run({triage_test_binary(), "probes", "--format", "json"});
  REQUIRE(listed.exit_code == 0);
  std::vector<std::pair<std::string, std::string>> probes;  // name, family
  for (const auto &p : nlohmann::json::parse(listed.out))
    if (p["status"] == "attached") probes.emplace_back(p["name"], p["family"]);
  REQUIRE(probes.size() >= 4);

  for (const auto &[probe, family] : probes) {
    live::TempDir dir;
    std::string db = dir.file("missing.db");
    live::Recording rec(db, {"-d", "0.6", "-i", "0.2", "--no-probe", probe});
    int exit_code = rec.wait();
    INFO(probe << ": exit " << exit_code << "\n" << rec.stderr_text());
    REQUIRE(exit_code == 0);
    auto report = live::report_json(db);
    bool named = false, others_attached = false;
    for (const auto &p : report["probes"]) {
      if (p["name"] == probe) {
        named = true;
        CHECK(p["status"] != "attached");
        CHECK(p.value("hides", "").size() > 10);
      } else if (p["status"] == "attached") {
        others_attached = true;
      }
    }
    CHECK(named);
    CHECK(others_attached);
    // The rest of the window is there: another family's section when this one is gone.
    if (family != "sched") CHECK(report["sched"]["load"].size() >= 2);
    else CHECK(!report["block"].is_null());
    // The text says so next to the verdict.
    CHECK(rec.stdout_text().find("missing: " + probe) != std::string::npos);
    CHECK(rec.stdout_text().find("hidden: ") != std::string::npos);
  }
}

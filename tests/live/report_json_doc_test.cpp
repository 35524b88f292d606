// Live: docs/report-json.md against a window this build records. The unit test walks checked-in
// recordings, so a key a recorder adds to its rows (not only to a report section) shows there only
// once they are recorded again; here tests/fixtures/recordings/record_every_family.sh records every
// family busy with this build's triage, and every key of its report must be in the document. Keys
// the document lists but this window lacks are left to the unit test: a keep-alive race or a read
// timeout depends on timing.
#include <catch2/catch.hpp>

#include <fstream>

#include "../unit/report_json_doc.h"
#include "live_support.h"
#include "test_binary.h"

TEST_CASE("report json doc: every key of a freshly recorded window is documented") {
  for (const char *tool : {"ip", "nft", "losetup", "taskset", "python3"}) live::require_tool(tool);
  live::TempDir dir;
  std::string db = dir.file("every_family.db");
  auto recorded = live::run({std::string(TRIAGE_FIXTURES_DIR) + "/recordings/record_every_family.sh",
                             triage_test_binary(), db});
  INFO(recorded.out << recorded.err);
  REQUIRE(recorded.exit_code == 0);

  std::ifstream in(std::string(TRIAGE_DOCS_DIR) + "/report-json.md");
  REQUIRE(in.good());
  auto doc = report_json_doc::parse_doc(in);
  auto report = live::report_json(db);
  REQUIRE(report["oom"].is_object());
  std::string out = report_json_doc::disagreements(doc, {report}, /*undocumented_only=*/true);
  if (!out.empty()) FAIL_CHECK("docs/report-json.md misses keys of this build's report:\n" << out);
}

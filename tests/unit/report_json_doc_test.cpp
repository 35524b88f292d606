// docs/report-json.md documents every key of `triage report --format json`. This test builds the
// JSON report from real recordings and fails naming each key path the document does not list, and
// each listed path that no report produced unless the document marks it optional: the document
// cannot drift from the renderer. (report_json_doc.h says how the document is parsed; the live test
// tests/live/report_json_doc_test.cpp does the same on a window this build records.)
#include <catch2/catch.hpp>

#include <algorithm>
#include <fstream>

#include "record/recording.h"
#include "report/report.h"
#include "report_json_doc.h"

using namespace triage;
using namespace report_json_doc;

namespace {

const std::string kDocPath = std::string(TRIAGE_DOCS_DIR) + "/report-json.md";

json report_of(const std::string &path) {
  auto reader = RecordingReader::open(path);
  REQUIRE(reader.ok());
  return build_report(**reader);
}

}  // namespace

TEST_CASE("report json doc: the checker names undocumented and unproduced keys") {
  Doc doc = doc_of(
      "| key | type | unit | meaning |\n"
      "| --- | --- | --- | --- |\n"
      "| `a` | object | | |\n"
      "| `a.n` | number | s | |\n"
      "| `a.gone` | number | | |\n"
      "| `a.maybe` | number, optional | | |\n"
      "| `m` | object | | |\n"
      "| `m.*` | `<h>` | | |\n"
      "| `<h>.p99` | number | | |\n"
      "| `rows` | array | | |\n"
      "| `rows[].x` | number | | |\n");
  REQUIRE(doc.errors.empty());
  json report = {{"a", {{"n", 1}, {"extra", 2}}},
                 {"m", {{"sda", {{"p99", 1.0}}}, {"sdb", {{"p99", 2.0}, {"p50", 1.0}}}}},
                 {"rows", {{{"x", 1}}, {{"x", 2}, {"y", 3}}}}};
  std::string out = disagreements(doc, {report});
  INFO(out);
  CHECK(out.find("the report has `a.extra`") != std::string::npos);
  CHECK(out.find("the report has `<h>.p50`") != std::string::npos);  // a type's key, found through a wildcard
  CHECK(out.find("the report has `rows[].y`") != std::string::npos);
  CHECK(out.find("lists `a.gone`") != std::string::npos);
  CHECK(out.find("a.maybe") == std::string::npos);  // optional: absent is fine
  CHECK(out.find("m.sda") == std::string::npos);    // map keys are data, not keys to document
  CHECK(std::count(out.begin(), out.end(), '\n') == 4);

  CHECK(disagreements(doc_of("| `a` | object | | |\n| `a` | object | | |\n"), {}).find("listed twice") != std::string::npos);
}

TEST_CASE("report json doc: docs/report-json.md lists exactly the keys the renderer produces") {
  std::ifstream in(kDocPath);
  REQUIRE(in.good());
  Doc doc = parse_doc(in);
  REQUIRE(doc.keys.size() > 100);
  // A window with every family busy (CPU contention, loop-device I/O, TCP trouble of each kind, an
  // OOM kill, a probe switched off), and the fault suite's quiet one.
  std::vector<json> reports = {report_of(std::string(TRIAGE_FIXTURES_DIR) + "/recordings/every_family.db"),
                               report_of(std::string(TRIAGE_FIXTURES_DIR) + "/../faults/input/data/recorded.db")};
  std::string out = disagreements(doc, reports);
  if (!out.empty()) FAIL_CHECK("docs/report-json.md and the JSON report disagree:\n" << out);
}

// Every renderer against its golden, on the checked-in recording where every family was busy
// (tests/fixtures/recordings/every_family.db): a refactoring of a renderer must leave its output
// byte for byte as it was. Everything rendered comes from the recording (its host, kernel, times
// and triage version), none from the machine running the test, so the output is the same anywhere.
// A new every_family.db (record_every_family.sh) changes them all: rewrite them with
// TRIAGE_UPDATE_GOLDEN=1 and read the diff.
#include <catch2/catch.hpp>

#include "golden.h"
#include "record/recording.h"
#include "report/html.h"
#include "report/report.h"

using namespace triage;

TEST_CASE("report golden: the recording with every family renders as the goldens, in every format") {
  const std::string recording = std::string(TRIAGE_FIXTURES_DIR) + "/recordings/every_family.db";
  for (const char *format : {"text", "json", "html"}) {
    INFO(format);
    auto rendered = report_from_file(recording, format);
    REQUIRE(rendered.ok());
    check_golden(*rendered, std::string("every_family.") + (std::string(format) == "text" ? "txt" : format));
  }
}

TEST_CASE("report golden: families not recorded render as the golden") {
  // Without sched, the OOM kill goes on a timeline of its own; without tcp, its section says why.
  auto reader = RecordingReader::open(std::string(TRIAGE_FIXTURES_DIR) + "/recordings/every_family.db");
  REQUIRE(reader.ok());
  json report = build_report(**reader);
  report["sched"] = nullptr;
  report["tcp"] = nullptr;
  check_golden(render_text(report), "every_family_without_sched_tcp.txt");
  check_golden(render_html(report), "every_family_without_sched_tcp.html");
}

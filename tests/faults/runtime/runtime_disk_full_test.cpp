// A full disk (a 1 MiB tmpfs as the output directory): a clear error, the text report still
// printed, a non-zero exit, and a file that does not pass for a complete recording.
#include <catch2/catch.hpp>

#include "test_binary.h"
#include "fault_support.h"

TEST_CASE("runtime: the disk fills up mid-window") {
  faults::Tmpfs disk("1m");
  std::string db = disk.file("full.db");
  // Threshold 0 and a switch storm: events arrive far faster than 1 MiB lasts. --max-size above
  // the disk, so that it is the disk, not the cap, that stops the writes.
  live::Recording rec(db, {"-d", "3", "--probes", "sched", "--threshold-ms", "0", "-i", "0.5", "--max-size", "1GiB"});
  REQUIRE(rec.wait_attached());
  {
    faults::SwitchStorm storm(1);
    live::sleep_s(1.5);
  }
  int exit_code = rec.wait();
  INFO("stderr: " << rec.stderr_text());
  CHECK(exit_code == 1);
  // One clear line when it happened, one at the end.
  CHECK(rec.stderr_text().find("cannot write the recording") != std::string::npos);
  CHECK(rec.stderr_text().find("is incomplete") != std::string::npos);
  CHECK(rec.stderr_text().find("recording saved") == std::string::npos);
  // The report of the whole window is printed from memory, and says the file is incomplete.
  const std::string &out = rec.stdout_text();
  CHECK(out.find("VERDICT") != std::string::npos);
  CHECK(out.find("could not be completed") != std::string::npos);
  CHECK(out.find("== Scheduler") != std::string::npos);  // the sched section, from memory
  CHECK(out.find("cut short") == std::string::npos);      // the whole window, not up to the failure

  // The file keeps what was committed and reads as incomplete, never as a whole window.
  auto reread = live::run({triage_test_binary(), "report", db, "--format", "json"});
  INFO("report: " << reread.err);
  if (reread.exit_code == 0) {
    auto report = nlohmann::json::parse(reread.out);
    CHECK(report["window"]["cut_short"] == true);
    CHECK(report["window"]["end_reason"].get<std::string>().rfind("incomplete", 0) == 0);
  } else {
    CHECK(reread.exit_code == 2);  // unreadable: one clear line, never a crash
    CHECK(!reread.err.empty());
  }
}

TEST_CASE("runtime: no room even for the schema") {
  faults::Tmpfs disk("4k");
  // Fill what there is.
  live::sh("dd if=/dev/zero of=" + disk.file("filler") + " bs=4k count=1 2>/dev/null");
  std::string db = disk.file("none.db");
  auto r = live::run({triage_test_binary(), "record", "-o", db, "-d", "1", "--probes", "sched", "--quiet"});
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("none.db") != std::string::npos);
  CHECK(::access(db.c_str(), F_OK) != 0);  // no empty shell left to pass for a recording
}

// A recorder killed with SIGKILL mid-window leaves a recording that `triage report` still reads,
// up to the last flush, marked as cut short.
#include <catch2/catch.hpp>

#include <signal.h>

#include "test_binary.h"
#include "live_support.h"

TEST_CASE("record: SIGKILL mid-window leaves a readable recording") {
  live::TempDir dir;
  live::Recording rec(dir.file("killed.db"), {"-d", "30", "--probes", "sched", "-i", "0.5"});
  REQUIRE(rec.wait_attached());
  live::sleep_s(2.6);
  rec.signal(SIGKILL);
  rec.wait();

  auto result = live::run({triage_test_binary(), "report", dir.file("killed.db"), "--format", "json"});
  INFO(result.err);
  REQUIRE(result.exit_code == 0);
  auto report = nlohmann::json::parse(result.out);
  CHECK(report["window"]["cut_short"] == true);
  CHECK(report["window"]["duration_s"].get<double>() >= 1.5);
  CHECK(report["sched"]["load"].size() >= 3);  // flushed every 0.5 s
  CHECK(report["sched"]["runq_latency"]["count"].get<uint64_t>() > 0);

  auto text = live::run({triage_test_binary(), "report", dir.file("killed.db")});
  CHECK(text.exit_code == 0);
  CHECK(text.out.find("cut short") != std::string::npos);
}

TEST_CASE("record: SIGINT ends the window early and the report says so") {
  live::TempDir dir;
  live::Recording rec(dir.file("int.db"), {"-d", "30", "--probes", "sched"});
  REQUIRE(rec.wait_attached());
  live::sleep_s(1.5);
  rec.signal(SIGINT);
  REQUIRE(rec.wait() == 0);
  auto report = live::report_json(dir.file("int.db"));
  CHECK(report["window"]["cut_short"] == true);
  CHECK(report["window"]["end_reason"] == "SIGINT");
  CHECK(rec.stdout_text().find("VERDICT") != std::string::npos);  // the report was printed
}

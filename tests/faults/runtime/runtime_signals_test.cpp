// SIGINT, SIGTERM and SIGHUP at random moments of a window (startup, attach, mid-window, while
// the end is written): every run leaves a readable recording whose report says whether and why
// the window was cut short, and the report is printed.
#include <catch2/catch.hpp>

#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <random>
#include <thread>

#include "fault_support.h"

namespace {
const char *name_of(int sig) { return sig == SIGINT ? "SIGINT" : sig == SIGTERM ? "SIGTERM" : "SIGHUP"; }
}  // namespace

TEST_CASE("runtime: a signal at a random moment leaves a readable recording that says so") {
  std::mt19937_64 rng(faults::seed());
  const double duration_s = 1.5;
  // Strata cover the whole life of a run: from the exec (before the recorder blocks signals),
  // through the attach (~0.5 s with every family), the window, to the final write and report.
  const int runs = 8;
  const double span_s = duration_s + 1.2;
  int cut_short = 0, completed = 0, before_start = 0;
  for (int k = 0; k < runs; k++) {
    double delay_s = (k + std::uniform_real_distribution<double>(0, 1)(rng)) * span_s / runs;
    int sig = std::vector<int>{SIGINT, SIGTERM, SIGHUP}[k % 3];
    live::TempDir dir;
    std::string db = dir.file("signalled.db");
    live::Recording rec(db, {"-d", "1.5", "-i", "0.5"});
    live::sleep_s(delay_s);
    rec.signal(sig);
    int exit_code = rec.wait();
    INFO("run " << k << ": " << name_of(sig) << " after " << delay_s << " s; exit " << exit_code << "\n"
                << rec.stderr_text());
    if (exit_code == 128 + sig) {
      // Only possible before the recorder took the signals over, which is before it creates
      // the file: nothing half-written is left behind.
      CHECK(::access(db.c_str(), F_OK) != 0);
      before_start++;
      continue;
    }
    REQUIRE(exit_code == 0);
    CHECK(rec.stdout_text().find("VERDICT") != std::string::npos);
    auto report = live::report_json(db);
    const auto &window = report["window"];
    INFO(window.dump());
    if (window["cut_short"] == true) {
      CHECK(window["end_reason"] == name_of(sig));
      CHECK(rec.stdout_text().find(std::string("cut short: ") + name_of(sig)) != std::string::npos);
      cut_short++;
    } else {
      // The signal came while the end was being written: the window was whole.
      CHECK(window["end_reason"] == "duration");
      completed++;
    }
  }
  std::printf("signals: %d cut short, %d after the window, %d before the recorder started\n", cut_short, completed,
              before_start);
  CHECK(cut_short >= 1);
}

TEST_CASE("runtime: a signal during attach stops the run at once, with a readable recording") {
  live::TempDir dir;
  std::string db = dir.file("attach.db");
  live::Recording rec(db, {"-d", "30"});
  // The file exists from before the first family loads; signal as soon as it does.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (::access(db.c_str(), F_OK) != 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  rec.signal(SIGTERM);
  int exit_code = rec.wait(20);
  INFO(rec.stderr_text());
  REQUIRE(exit_code == 0);
  auto report = live::report_json(db);
  CHECK(report["window"]["cut_short"] == true);
  CHECK(report["window"]["end_reason"] == "SIGTERM");
  CHECK(report["window"]["duration_s"].get<double>() < 5);
}

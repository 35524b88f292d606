// The fixture every made-up recording goes through: what it writes for the test, and that the
// file goes with it, so that a test reading a fixture's report reads what the test wrote.
#include <catch2/catch.hpp>

#include <filesystem>
#include <string>

#include "recording_fixture.h"

using namespace triage;

TEST_CASE("recording fixture: the window start, the test's rows, read back; the file goes with it") {
  std::string dir;
  {
    test::RecordingFixture fx(7'000);
    dir = fx.dir().path;
    CHECK(fx.path() == dir + "/r.db");
    fx.writer().add_event(7'500, "sched", "runq", {{"pid", 1}});
    fx.flush();
    auto open = fx.reader();  // readable while the writer is open
    CHECK(open->meta("start_ns") == json(7'000));
    int events = 0;
    open->for_each_event("sched", "", [&](uint64_t, const std::string &, const json &) { events++; });
    CHECK(events == 1);
    fx.close();
    CHECK(fx.reader()->meta("start_ns") == json(7'000));
  }
  CHECK(!std::filesystem::exists(dir));
}

TEST_CASE("recording fixture: window meta and report; without a start the file is refused") {
  test::RecordingFixture fx(1'000'000'000, "window.db");
  fx.set_window_meta(3'000'000'000);
  json report = fx.report();
  CHECK(report["window"]["duration_s"] == Approx(2.0));
  CHECK(report["window"]["host"] == "testbox");
  CHECK(report["window"]["ncpu"] == 2);

  test::RecordingFixture no_start(std::nullopt);
  no_start.close();
  auto refused = RecordingReader::open(no_start.path());
  REQUIRE(!refused.ok());
  CHECK(refused.error().exit_code == kExitUsage);
}

// The command line: every bad argument is exit 2 with one helpful line on stderr, before anything
// is attached or written (no recording file left behind), whoever runs it.
#include <catch2/catch.hpp>

#include <filesystem>

#include "input_support.h"
#include "scratch_dir.h"

using faults::run_triage;

namespace {

struct BadArgs {
  std::vector<std::string> args;
  std::string says;  // a word of the one line that tells the user what is wrong
};

}  // namespace

TEST_CASE("cli faults: bad arguments are exit 2 with one line naming the problem, and no file") {
  const std::vector<BadArgs> cases = {
      {{"record", "--bogus"}, "--bogus"},
      {{"report", "--bogus", "x.db"}, "--bogus"},
      {{"frobnicate"}, "frobnicate"},
      {{"record", "-d", "-1"}, "duration"},
      {{"record", "-d", "1e12"}, "duration"},
      {{"record", "-d", "nan"}, "duration"},
      {{"record", "-d", "inf"}, "duration"},
      {{"record", "-d", "two"}, "duration"},
      {{"record", "-i", "0"}, "interval"},
      {{"record", "-i", "-1"}, "interval"},
      {{"record", "-i", "nan"}, "interval"},
      {{"record", "-i", "1e300"}, "interval"},
      {{"record", "-d", "2", "-i", "10"}, "interval"},
      {{"record", "--threshold-ms", "-5"}, "threshold"},
      {{"record", "--threshold-ms", "nan"}, "threshold"},
      {{"record", "-p", "999999999"}, "pid"},
      {{"record", "-p", "0"}, "pid"},
      {{"record", "-p", "-1"}, "pid"},
      {{"record", "-p", "4194304"}, "no such process"},  // in range, but no process has it
      {{"record", "--cgroup", "/nonexistent/cgroup"}, "/nonexistent/cgroup"},
      {{"record", "--cgroup", "/etc/passwd"}, "cgroup"},
      {{"record", "--probes", "bogus"}, "bogus"},
      {{"record", "--probes", ""}, "probes"},
      {{"report", "--format", "bogus", "x.db"}, "format"},
      {{"snapshot", "--format", "bogus"}, "format"},
      {{"probes", "--format", "bogus"}, "format"},
      {{"report"}, "file"},
  };
  ScratchDir dir;
  for (const auto &c : cases) {
    std::string shown;
    for (const auto &a : c.args) shown += " " + a;
    auto run = run_triage(c.args, dir.path);
    INFO("triage" << shown << " -> exit " << run.exit_code << ", stderr: " << run.err);
    CHECK(run.signal == 0);
    CHECK(run.exit_code == 2);
    CHECK(faults::line_count(run.err) == 1);
    CHECK(run.out.empty());
    CHECK(run.err.find(c.says) != std::string::npos);
    CHECK(std::filesystem::is_empty(dir.path));
  }
}

TEST_CASE("cli faults: a file name with control bytes is shown escaped, on one line") {
  ScratchDir dir;
  auto run = run_triage({"report", dir.file("a\nb\x1b[31m.db")});
  CHECK(run.exit_code == 2);
  CHECK(faults::line_count(run.err) == 1);
  CHECK(faults::first_terminal_control(run.err) == std::string::npos);
}

// The command line as users meet it: bad usage is exit 2 with one helpful line.
#include <catch2/catch.hpp>

#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <string>

namespace {

struct Outcome {
  int exit_code;
  std::string output;  // stdout and stderr
};

Outcome triage(const std::string &args) {
  std::string command = std::string(TRIAGE_BINARY) + " " + args + " 2>&1";
  FILE *pipe = popen(command.c_str(), "r");
  std::string out;
  std::array<char, 4096> buf{};
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), pipe)) > 0) out.append(buf.data(), n);
  int status = pclose(pipe);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

int lines(const std::string &s) { return static_cast<int>(std::count(s.begin(), s.end(), '\n')); }

}  // namespace

TEST_CASE("cli: bad usage is exit 2 with one line") {
  for (const char *args : {"", "frobnicate", "record --bogus", "record -d -5", "record -d 99999999",
                           "record -i 0", "record -i abc", "record --probes sched,disk", "record --probes ,",
                           "record -p 0", "report", "report --format pdf x.db", "snapshot --format xml"}) {
    auto r = triage(args);
    INFO("triage " << args << " -> " << r.output);
    CHECK(r.exit_code == 2);
    CHECK(lines(r.output) == 1);
  }
}

TEST_CASE("cli: report of a missing or foreign file is exit 2 naming the file") {
  auto r = triage("report /nonexistent/x.db");
  CHECK(r.exit_code == 2);
  CHECK(r.output.find("/nonexistent/x.db") != std::string::npos);
  r = triage("report /etc/passwd");
  CHECK(r.exit_code == 2);
  CHECK(lines(r.output) == 1);
}

TEST_CASE("cli: help and version exit 0") {
  CHECK(triage("--help").exit_code == 0);
  const auto version = triage("--version");
  CHECK(version.exit_code == 0);
  // The version a postmortem quotes: it must actually be printed.
  CHECK(version.output == std::string("triage ") + TRIAGE_VERSION + "\n");
  CHECK(triage("record --help").output.find("--duration") != std::string::npos);
}

TEST_CASE("cli: snapshot works and prints JSON") {
  auto r = triage("snapshot --format json");
  CHECK(r.exit_code == 0);
  CHECK(r.output.find("\"loadavg\"") != std::string::npos);
}

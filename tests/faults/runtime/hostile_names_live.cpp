// Names from the traced machine are attacker-controlled: any user can name a process, a file or a
// directory. This records a real window while processes with terminal escape sequences,
// newlines, invalid UTF-8, HTML and SQL in their comm, command line and open (deleted) file names
// run, then checks that every format stays well-formed and inert: the text report has no byte
// that acts on a terminal, the JSON parses and round-trips, the HTML shows the names as text.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>

#include "input_support.h"
#include "live_support.h"

using namespace live;
using nlohmann::json;

namespace {

// 15 bytes each (the kernel keeps TASK_COMM_LEN - 1): an escape sequence, HTML, SQL, invalid UTF-8.
const std::string kCommEscape = "\x1b[2J\x1b]0;pwn\x07<b>";
const std::string kCommHtml = "<script>'\";--\xff";
// No '/' in it: a file name is one path component.
const std::string kFileName = "log\x1b[31m\n<script>alert(1)<img src=x onerror=alert(2)>'); DROP TABLE t;--\xc3\x28\xe2\x80\xae.txt";

// A process that keeps a deleted file with a hostile name open and spins (so the scheduler sees
// it wait for a CPU next to its twin), with argv[0] rewritten to hostile bytes as well.
void hold_deleted_file_and_spin(const std::string &dir) {
  std::string path = dir + "/" + kFileName;
  int fd = ::open(path.c_str(), O_CREAT | O_RDWR | O_TRUNC, 0600);
  if (fd < 0) std::_Exit(3);  // the test then finds no file name in the report and fails
  {
    std::string block(64 * 1024, 'x');
    (void)!::write(fd, block.data(), block.size());
    ::unlink(path.c_str());
  }
  spin_forever();
}

bool valid_utf8(const std::string &s) {
  size_t i = 0;
  while (i < s.size()) {
    auto b = static_cast<unsigned char>(s[i]);
    size_t len = b < 0x80 ? 1 : (b & 0xE0) == 0xC0 ? 2 : (b & 0xF0) == 0xE0 ? 3 : (b & 0xF8) == 0xF0 ? 4 : 0;
    if (!len || i + len > s.size()) return false;
    for (size_t k = 1; k < len; k++)
      if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return false;
    i += len;
  }
  return true;
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

}  // namespace

TEST_CASE("hostile names: text, JSON and HTML stay well-formed and inert") {
  TempDir dir;
  // Two spinners pinned to one CPU wait for each other: both show in the run-queue tables.
  Child escape(kCommEscape, [&] { hold_deleted_file_and_spin(dir.path()); }, 0);
  Child html(kCommHtml, [] { spin_forever(); }, 0);
  // A zombie with a hostile name: the snapshot lists zombies by comm and parent comm.
  pid_t zombie = ::fork();
  if (zombie == 0) {
    ::prctl(PR_SET_NAME, kCommHtml.c_str());
    std::_Exit(0);
  }
  sleep_s(0.3);

  std::string db = dir.file("hostile.db");
  Recording recording(db, {"-d", "2"});
  int rc = recording.wait();
  ::waitpid(zombie, nullptr, 0);
  INFO(recording.stderr_text());
  REQUIRE(rc == 0);

  // The record command prints the text report itself: the same rules apply to it.
  CHECK(faults::first_terminal_control(recording.stdout_text()) == std::string::npos);

  auto text = faults::run_triage({"report", db, "--format", "text"});
  REQUIRE(text.exit_code == 0);
  size_t bad = faults::first_terminal_control(text.out);
  INFO("text report around the first control byte: "
       << (bad == std::string::npos ? "" : json(text.out.substr(bad > 40 ? bad - 40 : 0, 80)).dump(-1, ' ', true)));
  CHECK(bad == std::string::npos);
  CHECK(valid_utf8(text.out));

  auto json_run = faults::run_triage({"report", db, "--format", "json"});
  REQUIRE(json_run.exit_code == 0);
  REQUIRE(json::accept(json_run.out));
  json report = json::parse(json_run.out);
  CHECK(json::parse(report.dump()) == report);
  // The names did reach the report (otherwise this test would prove nothing).
  std::string dumped = report.dump();
  CHECK(dumped.find("<script>") != std::string::npos);
  CHECK(dumped.find("DROP TABLE") != std::string::npos);
  CHECK(valid_utf8(json_run.out));

  auto html_run = faults::run_triage({"report", db, "--format", "html"});
  REQUIRE(html_run.exit_code == 0);
  std::string page = lower(html_run.out);
  CHECK(page.find("<script") == std::string::npos);
  CHECK(page.find("&lt;script&gt;") != std::string::npos);  // shown as text
  CHECK(page.find("<img") == std::string::npos);
  CHECK(html_run.out.find("pwn\\x07&lt;b&gt;") != std::string::npos);  // the comm, as text
  CHECK(faults::first_terminal_control(html_run.out) == std::string::npos);
  CHECK(valid_utf8(html_run.out));
  // The right-to-left override would reorder what the reader sees.
  CHECK(html_run.out.find("\xe2\x80\xae") == std::string::npos);
}

TEST_CASE("hostile names: record -o through a planted symlink is exit 2, the target untouched") {
  TempDir dir;
  std::string victim = dir.file("victim"), planted = dir.file("planted.db");
  faults::write_file(victim, "precious");
  REQUIRE(::symlink(victim.c_str(), planted.c_str()) == 0);
  auto run = faults::run_triage({"record", "-d", "1", "--probes", "sched", "-q", "-o", planted});
  INFO(run.err);
  CHECK(run.exit_code == 2);
  CHECK(faults::line_count(run.err) == 1);
  CHECK(faults::read_file(victim) == "precious");
}

TEST_CASE("hostile names: record -o into a missing directory is exit 2 with one line, nothing attached") {
  auto run = faults::run_triage({"record", "-d", "1", "--probes", "sched", "-q", "-o", "/nonexistent/dir/\x1b[2Jx.db"});
  INFO(run.err);
  CHECK(run.exit_code == 2);
  CHECK(faults::line_count(run.err) == 1);
  CHECK(faults::first_terminal_control(run.err) == std::string::npos);
}

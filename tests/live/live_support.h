// Support for live tests: they run as root, load real BPF programs through build/triage, create a
// real condition and compare the report with the kernel's own counters. A test that cannot run
// here exits with kSkipExitCode after printing why (CTest shows it as skipped, never silently).
#pragma once

#include <sys/types.h>

#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace live {

constexpr int kSkipExitCode = 77;

// Prints "SKIPPED: <reason>" and exits 77.
[[noreturn]] void skip(const std::string &reason);
// Skips unless root with kernel BTF; call first in every live test's main (live_main does it).
void require_root_and_btf();
// Skips unless `tool` is on PATH.
void require_tool(const std::string &tool);

struct CommandResult {
  int exit_code = -1;
  std::string out, err;
};
// Runs argv to completion, capturing stdout and stderr.
CommandResult run(const std::vector<std::string> &argv);
// Runs a shell command line (sh -c), capturing output.
CommandResult sh(const std::string &command);

// A fresh directory under /tmp, removed with everything in it when the object dies.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string &path() const { return path_; }
  std::string file(const std::string &name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// `triage record` running in the background.
class Recording {
 public:
  // args go after "record" (e.g. {"-d", "5", "--probes", "sched"}); -o and --quiet are added.
  Recording(const std::string &db_path, const std::vector<std::string> &args);
  ~Recording();  // SIGKILLs it if still running
  // Waits (up to timeout) until the recorder has attached its probes; false if it died first.
  bool wait_attached(double timeout_s = 20);
  // Waits for it to exit; returns its exit status (or -1).
  int wait(double timeout_s = 120);
  void signal(int sig);
  pid_t pid() const { return pid_; }
  // Peak resident set size of the recorder (getrusage of the reaped child), 0 before it exited.
  long max_rss_kib() const { return max_rss_kib_; }
  const std::string &stdout_text() const { return out_; }
  const std::string &stderr_text() const { return err_; }

 private:
  void collect();
  std::string db_;
  pid_t pid_ = -1;
  int out_fd_ = -1, err_fd_ = -1;
  std::string out_, err_;
  long max_rss_kib_ = 0;
};

// `triage report DB --format json`, parsed; throws with triage's stderr when it fails.
nlohmann::json report_json(const std::string &db_path);
// The report of a slice: `slice_args` as `triage report` takes them ("--from", "5", "--to", "10").
nlohmann::json report_json(const std::string &db_path, const std::vector<std::string> &slice_args);

// A child process running fn(), optionally pinned to one CPU and named (comm) for the report.
class Child {
 public:
  Child(const std::string &comm, const std::function<void()> &fn, int cpu = -1);
  ~Child();  // SIGKILL + reap
  pid_t pid() const { return pid_; }
  void kill_and_reap();

 private:
  pid_t pid_ = -1;
};

// /proc/<pid>/schedstat: {on-CPU ns, run-queue wait ns (run_delay), timeslices}.
struct SchedStat {
  unsigned long long cpu_ns = 0, run_delay_ns = 0, slices = 0;
};
SchedStat read_schedstat(pid_t pid);

// Spins the CPU until killed.
[[noreturn]] void spin_forever();
void sleep_s(double seconds);

}  // namespace live

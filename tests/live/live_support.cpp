#include "test_binary.h"
#include "live_support.h"

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <thread>

namespace live {

void skip(const std::string &reason) {
  std::printf("SKIPPED: %s\n", reason.c_str());
  std::fflush(stdout);
  std::_Exit(kSkipExitCode);
}

void require_root_and_btf() {
  if (::geteuid() != 0) skip("live tests load BPF programs and need root (run: sudo tools/test)");
  if (::access("/sys/kernel/btf/vmlinux", R_OK) != 0) skip("kernel has no BTF (/sys/kernel/btf/vmlinux)");
}

void require_tool(const std::string &tool) {
  if (sh("command -v " + tool + " >/dev/null 2>&1").exit_code != 0) skip(tool + " is not installed");
}

namespace {

std::string drain_fd(int fd) {
  std::string out;
  char buf[65536];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  return out;
}

// fork+exec with stdout/stderr on pipes; returns pid.
pid_t spawn(const std::vector<std::string> &argv, int &out_fd, int &err_fd) {
  int out_pipe[2], err_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) || ::pipe2(err_pipe, O_CLOEXEC)) throw std::runtime_error("pipe failed");
  pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(out_pipe[1], 1);
    ::dup2(err_pipe[1], 2);
    std::vector<char *> args;
    for (const auto &a : argv) args.push_back(const_cast<char *>(a.c_str()));
    args.push_back(nullptr);
    ::execvp(args[0], args.data());
    std::_Exit(127);
  }
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);
  out_fd = out_pipe[0];
  err_fd = err_pipe[0];
  return pid;
}

}  // namespace

CommandResult run(const std::vector<std::string> &argv) {
  int out_fd, err_fd;
  pid_t pid = spawn(argv, out_fd, err_fd);
  CommandResult r;
  // Read both pipes without deadlocking on a full one.
  pollfd fds[2] = {{out_fd, POLLIN, 0}, {err_fd, POLLIN, 0}};
  int open_fds = 2;
  char buf[65536];
  while (open_fds > 0) {
    if (::poll(fds, 2, -1) < 0 && errno != EINTR) break;
    for (int i = 0; i < 2; i++) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP))) continue;
      ssize_t n = ::read(fds[i].fd, buf, sizeof buf);
      if (n <= 0) {
        ::close(fds[i].fd);
        fds[i].fd = -1;
        open_fds--;
      } else {
        (i == 0 ? r.out : r.err).append(buf, static_cast<size_t>(n));
      }
    }
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return r;
}

CommandResult sh(const std::string &command) { return run({"/bin/sh", "-c", command}); }

TempDir::TempDir() {
  char pattern[] = "/tmp/triage-live-XXXXXX";
  if (!::mkdtemp(pattern)) throw std::runtime_error("mkdtemp failed");
  path_ = pattern;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

Recording::Recording(const std::string &db_path, const std::vector<std::string> &args) : db_(db_path) {
  std::vector<std::string> argv = {triage_test_binary(), "record", "-o", db_path, "--quiet"};
  argv.insert(argv.end(), args.begin(), args.end());
  pid_ = spawn(argv, out_fd_, err_fd_);
  // Non-blocking so that collect() can read what is there without waiting for the exit.
  ::fcntl(out_fd_, F_SETFL, O_NONBLOCK);
  ::fcntl(err_fd_, F_SETFL, O_NONBLOCK);
}

Recording::~Recording() {
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
  if (out_fd_ >= 0) ::close(out_fd_);
  if (err_fd_ >= 0) ::close(err_fd_);
}

void Recording::collect() {
  out_ += drain_fd(out_fd_);
  err_ += drain_fd(err_fd_);
}

bool Recording::wait_attached(double timeout_s) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
  while (std::chrono::steady_clock::now() < deadline) {
    collect();
    int status = 0;
    if (pid_ > 0 && ::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      collect();
      // The caller only sees false: say here why, or a failure in CI cannot be told apart.
      std::fprintf(stderr, "recorder exited (%s %d) before it attached; its stderr:\n%s\n",
                   WIFEXITED(status) ? "exit code" : "signal", WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status),
                   err_.c_str());
      return false;
    }
    sqlite3 *db = nullptr;
    bool attached = false;
    if (::access(db_.c_str(), R_OK) == 0 && sqlite3_open_v2(db_.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK) {
      sqlite3_busy_timeout(db, 200);
      sqlite3_stmt *stmt = nullptr;
      if (sqlite3_prepare_v2(db, "SELECT value FROM meta WHERE key='attached'", -1, &stmt, nullptr) == SQLITE_OK) {
        attached = sqlite3_step(stmt) == SQLITE_ROW;
        sqlite3_finalize(stmt);
      }
    }
    sqlite3_close(db);
    if (attached) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  collect();
  std::fprintf(stderr, "recorder did not attach within %.0f s; its stderr so far:\n%s\n", timeout_s, err_.c_str());
  return false;
}

int Recording::wait(double timeout_s) {
  if (pid_ <= 0) return -1;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
  int status = 0;
  while (std::chrono::steady_clock::now() < deadline) {
    collect();
    rusage usage{};
    if (::wait4(pid_, &status, WNOHANG, &usage) == pid_) {
      pid_ = -1;
      max_rss_kib_ = usage.ru_maxrss;
      collect();
      return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return -1;
}

void Recording::signal(int sig) {
  if (pid_ > 0) ::kill(pid_, sig);
}

nlohmann::json report_json(const std::string &db_path) { return report_json(db_path, {}); }

nlohmann::json report_json(const std::string &db_path, const std::vector<std::string> &slice_args) {
  std::vector<std::string> argv = {triage_test_binary(), "report", db_path, "--format", "json"};
  argv.insert(argv.end(), slice_args.begin(), slice_args.end());
  CommandResult r = run(argv);
  if (r.exit_code != 0) throw std::runtime_error("triage report failed (" + std::to_string(r.exit_code) + "): " + r.err);
  return nlohmann::json::parse(r.out);
}

Child::Child(const std::string &comm, const std::function<void()> &fn, int cpu) {
  pid_ = ::fork();
  if (pid_ == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    ::prctl(PR_SET_NAME, comm.c_str());
    if (cpu >= 0) {
      cpu_set_t set;
      CPU_ZERO(&set);
      CPU_SET(cpu, &set);
      ::sched_setaffinity(0, sizeof set, &set);
    }
    fn();
    std::_Exit(0);
  }
}

Child::~Child() { kill_and_reap(); }

void Child::kill_and_reap() {
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }
}

SchedStat read_schedstat(pid_t pid) {
  SchedStat s;
  std::ifstream in("/proc/" + std::to_string(pid) + "/schedstat");
  in >> s.cpu_ns >> s.run_delay_ns >> s.slices;
  return s;
}

void spin_forever() {
  volatile unsigned long long n = 0;
  for (;;) n = n + 1;
}

void sleep_s(double seconds) { std::this_thread::sleep_for(std::chrono::duration<double>(seconds)); }

}  // namespace live

// The load split cannot contradict itself. A JVM under thread churn (started, loaded and killed
// inside the window) and a process whose threads are born, preempted, put in I/O wait and killed
// while runnable or in D: in every interval the machine-wide runnable and blocked equal the sums
// of the per-CPU values, and once the workload is gone nothing is left waiting that the kernel
// does not see waiting too (the threads' own schedstat run_delay, /proc/stat procs_blocked).
#include <catch2/catch.hpp>

#include <dirent.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <thread>
#include <vector>

#include "live_support.h"

namespace {

double realtime_s() {
  timespec ts{};
  ::clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

// Every thread's run_delay (ns waited on run queues, the kernel's own count) by tid.
std::map<long, unsigned long long> run_delay_of_every_thread() {
  std::map<long, unsigned long long> out;
  DIR *proc = ::opendir("/proc");
  if (!proc) return out;
  while (dirent *p = ::readdir(proc)) {
    if (p->d_name[0] < '0' || p->d_name[0] > '9') continue;
    std::string tasks = std::string("/proc/") + p->d_name + "/task";
    DIR *dir = ::opendir(tasks.c_str());
    if (!dir) continue;
    while (dirent *t = ::readdir(dir)) {
      if (t->d_name[0] < '0' || t->d_name[0] > '9') continue;
      std::ifstream in(tasks + "/" + t->d_name + "/schedstat");
      unsigned long long cpu_ns = 0, run_delay = 0;
      if (in >> cpu_ns >> run_delay) out[std::stol(t->d_name)] = run_delay;
    }
    ::closedir(dir);
  }
  ::closedir(proc);
  return out;
}

int procs_blocked_now() {
  std::ifstream in("/proc/stat");
  std::string key;
  long value = 0;
  while (in >> key) {
    if (key == "procs_blocked" && in >> value) return static_cast<int>(value);
    in.ignore(1 << 20, '\n');
  }
  return 0;
}

// A process whose threads keep being born on CPU 0: half spin 20 ms (preempted by each other),
// half write and fdatasync a file (I/O wait), then exit. Killed from outside with SIGKILL, so its
// last threads die runnable or in D.
[[noreturn]] void thread_churn(const std::string &scratch) {
  cpu_set_t one;
  CPU_ZERO(&one);
  CPU_SET(0, &one);
  ::sched_setaffinity(0, sizeof one, &one);
  for (int round = 0;; round++) {
    std::vector<std::thread> threads;
    for (int i = 0; i < 6; i++) {
      threads.emplace_back([&, i] {
        if (i % 2 == 0) {
          auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(20);
          volatile unsigned long spin = 0;
          while (std::chrono::steady_clock::now() < until) spin = spin + 1;
        } else {
          std::string path = scratch + "/churn-" + std::to_string(i);
          int fd = ::open(path.c_str(), O_WRONLY | O_CREAT, 0600);
          char block[4096] = {static_cast<char>(round)};
          for (int w = 0; w < 4 && fd >= 0; w++) {
            if (::pwrite(fd, block, sizeof block, w * sizeof block) < 0) break;
            ::fdatasync(fd);
          }
          if (fd >= 0) ::close(fd);
        }
      });
    }
    for (auto &t : threads) t.join();
  }
}

pid_t start_jvm(const std::string &seconds, const std::string &log) {
  pid_t pid = ::fork();
  if (pid == 0) {
    int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd >= 0) {
      ::dup2(fd, 1);
      ::dup2(fd, 2);
    }
    ::execlp("java", "java", "-Xmx256m", "-XX:+UseSerialGC", TRIAGE_LIVE_WORKLOADS_DIR "/ThreadChurn.java",
             seconds.c_str(), static_cast<char *>(nullptr));
    ::_exit(127);
  }
  return pid;
}

}  // namespace

TEST_CASE("sched: the load split is the sum of the CPUs and heals after thread churn and kills") {
  live::require_tool("java");
  std::string method = GENERATE(as<std::string>{}, "tp_btf", "raw_tp");
  INFO("hook set " << method);
  live::TempDir dir;
  live::Recording rec(dir.file("split.db"), {"-d", "17", "-i", "1", "--probes", "sched", "--force-hook", "sched=" + method});
  REQUIRE(rec.wait_attached());

  // The workload: a JVM that churns threads and exits on its own, one that is killed while
  // churning, and the native churn killed while its threads run or sit in D.
  pid_t jvm_exits = start_jvm("4", dir.file("jvm-a.log"));
  pid_t jvm_killed = start_jvm("30", dir.file("jvm-b.log"));
  std::string scratch = dir.path();
  auto churn = std::make_unique<live::Child>("triage-churn", [scratch] { thread_churn(scratch); });
  live::sleep_s(4);
  churn->kill_and_reap();
  live::sleep_s(1);
  ::kill(jvm_killed, SIGKILL);
  ::waitpid(jvm_killed, nullptr, 0);
  int status = 0;
  ::waitpid(jvm_exits, &status, 0);
  INFO("the JVM that should exit by itself: status " << status);
  CHECK((WIFEXITED(status) && WEXITSTATUS(status) == 0));
  live::sleep_s(1.5);  // let the last frees of the killed threads pass (RCU)

  // The quiet tail: what the kernel says waited, over the same span as whole intervals below.
  double tail_start = realtime_s();
  auto delays_before = run_delay_of_every_thread();
  double blocked_sum = 0;
  int blocked_samples = 0;
  while (realtime_s() - tail_start < 6) {
    blocked_sum += procs_blocked_now();
    blocked_samples++;
    live::sleep_s(0.05);
  }
  auto delays_after = run_delay_of_every_thread();
  double tail_end = realtime_s();
  double waited_ns = 0;
  for (const auto &[tid, after] : delays_after) {
    auto before = delays_before.find(tid);
    if (before != delays_before.end() && after >= before->second) waited_ns += static_cast<double>(after - before->second);
  }
  double kernel_runnable = waited_ns / ((tail_end - tail_start) * 1e9);
  double kernel_blocked = blocked_samples ? blocked_sum / blocked_samples : 0;
  REQUIRE(rec.wait() == 0);

  auto report = live::report_json(dir.file("split.db"));
  const auto &sched = report["sched"];
  REQUIRE(sched.is_object());
  CHECK(sched["method"] == method);
  INFO("repaired spans " << sched["repaired_spans"].dump());
  const auto &load = sched["load"];
  const auto &per_cpu = sched["cpu_busy_series"];
  REQUIRE(load.size() >= 12);
  REQUIRE(per_cpu.size() == load.size());

  // 1. In every interval, machine-wide = the sum of the CPUs, within 1 %.
  for (size_t i = 0; i < load.size(); i++) {
    double runnable = 0, blocked = 0;
    for (const auto &v : per_cpu[i]["runnable"]) runnable += v.get<double>();
    for (const auto &v : per_cpu[i]["blocked"]) blocked += v.get<double>();
    INFO("interval t=" << load[i]["t"] << ": " << load[i].dump() << " per CPU " << per_cpu[i].dump());
    CHECK(std::abs(load[i]["runnable"].get<double>() - runnable) <= 0.01 * std::max(runnable, 0.05));
    CHECK(std::abs(load[i]["blocked"].get<double>() - blocked) <= 0.01 * std::max(blocked, 0.05));
  }

  // 2. After the workload: what triage says waited is what the kernel says waited. A span left
  //    open by a thread that died waiting would add a whole task (1.0) to every later interval.
  double start_s = static_cast<double>(report["window"]["start_ns"].get<uint64_t>()) / 1e9;
  double from = tail_start - start_s, to = tail_end - start_s;
  double runnable_sum = 0, blocked_sum_triage = 0, span = 0;
  for (const auto &row : load) {
    double t = row["t"].get<double>(), dt = row["dt_s"].get<double>();
    if (t - dt < from || t > to) continue;
    runnable_sum += row["runnable"].get<double>() * dt;
    blocked_sum_triage += row["blocked"].get<double>() * dt;
    span += dt;
  }
  REQUIRE(span >= 3);
  double triage_runnable = runnable_sum / span, triage_blocked = blocked_sum_triage / span;
  INFO("tail " << span << " s: triage runnable " << triage_runnable << " blocked " << triage_blocked
               << "; kernel runnable (threads' run_delay) " << kernel_runnable << " blocked (procs_blocked) "
               << kernel_blocked);
  CHECK(std::abs(triage_runnable - kernel_runnable) <= 0.15 + 0.15 * kernel_runnable);
  CHECK(std::abs(triage_blocked - kernel_blocked) <= 0.15 + 0.15 * kernel_blocked);
}

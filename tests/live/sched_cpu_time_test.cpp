// Who burned the CPU: a process with two busy threads and a SCHED_FIFO spinner pinned to one CPU
// (which never has to leave it). Their CPU time in the report must match what the kernel counted
// for them (/proc/<pid>/task/*/schedstat, and utime+stime of /proc/<pid>/stat) within 2 %, per
// process and per thread, with the spinner's policy and allowed CPUs shown.
#include <catch2/catch.hpp>

#include <dirent.h>
#include <sched.h>
#include <signal.h>
#include <unistd.h>

#include <cmath>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <thread>

#include "live_support.h"

namespace {

// Every thread's on-CPU ns (first field of its schedstat), by tid.
std::map<long, double> thread_cpu_ns(pid_t pid) {
  std::map<long, double> out;
  std::string tasks = "/proc/" + std::to_string(pid) + "/task";
  DIR *dir = ::opendir(tasks.c_str());
  if (!dir) return out;
  while (dirent *t = ::readdir(dir)) {
    if (t->d_name[0] < '0' || t->d_name[0] > '9') continue;
    std::ifstream in(tasks + "/" + t->d_name + "/schedstat");
    double ns = 0;
    if (in >> ns) out[std::stol(t->d_name)] = ns;
  }
  ::closedir(dir);
  return out;
}

double sum_of(const std::map<long, double> &m) {
  double s = 0;
  for (const auto &[tid, ns] : m) s += ns;
  return s;
}

// utime + stime of the whole process in ns (clock ticks, all threads).
double stat_cpu_ns(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  std::getline(in, line);
  std::istringstream rest(line.substr(line.rfind(')') + 2));
  std::string field;
  double utime = 0, stime = 0;
  for (int i = 3; rest >> field; i++) {
    if (i == 14) utime = std::stod(field);
    if (i == 15) {
      stime = std::stod(field);
      break;
    }
  }
  return (utime + stime) * 1e9 / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

const nlohmann::json *row_of(const nlohmann::json &rows, pid_t pid) {
  for (const auto &r : rows)
    if (r["pid"] == pid) return &r;
  return nullptr;
}

}  // namespace

TEST_CASE("sched: CPU time per process and thread matches /proc, with the policy of a SCHED_FIFO hog") {
  if (::sysconf(_SC_NPROCESSORS_ONLN) < 2) live::skip("needs two CPUs (one for the SCHED_FIFO spinner)");
  std::string method = GENERATE(as<std::string>{}, "tp_btf", "raw_tp");
  INFO("hook set " << method);
  live::TempDir dir;
  live::Recording rec(dir.file("cpu.db"), {"-d", "7", "--probes", "sched", "--force-hook", "sched=" + method});
  REQUIRE(rec.wait_attached());

  // Two busy threads, free to run on either CPU.
  live::Child busy("triage-busy2", [] {
    std::thread second([] { live::spin_forever(); });
    live::spin_forever();
  });
  // A real-time spinner on CPU 1: it never needs to switch out (RT throttling aside).
  live::Child fifo("triage-fifo", [] {
    sched_param param{};
    param.sched_priority = 10;
    if (::sched_setscheduler(0, SCHED_FIFO, &param) != 0) ::_exit(3);
    live::spin_forever();
  }, 1);
  live::sleep_s(3.5);
  // Stopped, not killed: their CPU time stops growing while triage still sees them alive at its
  // next samples, so the report's per-thread rows and /proc are read at rest.
  ::kill(busy.pid(), SIGSTOP);
  ::kill(fifo.pid(), SIGSTOP);
  live::sleep_s(1.5);
  auto busy_threads = thread_cpu_ns(busy.pid());
  double busy_stat = stat_cpu_ns(busy.pid());
  double fifo_sched = sum_of(thread_cpu_ns(fifo.pid()));
  double fifo_stat = stat_cpu_ns(fifo.pid());
  pid_t busy_pid = busy.pid(), fifo_pid = fifo.pid();
  REQUIRE(rec.wait() == 0);
  busy.kill_and_reap();
  fifo.kill_and_reap();

  auto report = live::report_json(dir.file("cpu.db"));
  const auto &sched = report["sched"];
  REQUIRE(sched.is_object());
  const auto &top = sched["top_cpu"];
  INFO("top_cpu: " << top.dump());
  CHECK(sched["top_cpu_total"].get<size_t>() >= top.size());

  const auto *b = row_of(top, busy_pid);
  REQUIRE(b != nullptr);
  double busy_sched = sum_of(busy_threads);
  REQUIRE(busy_threads.size() == 2);
  REQUIRE(busy_sched > 3e8);  // the two threads really ran (other load on the machine may take most of it)
  double recorded = (*b)["cpu_ns"].get<double>();
  INFO("busy process: recorded " << recorded << " schedstat " << busy_sched << " stat " << busy_stat);
  CHECK(std::abs(recorded - busy_sched) <= 0.02 * busy_sched);
  CHECK(std::abs(recorded - busy_stat) <= 0.02 * busy_stat + 2e7);  // ticks: 2 of them at 100 Hz
  CHECK((*b)["comm"] == "triage-busy2");
  CHECK((*b)["policy"] == "SCHED_OTHER");
  REQUIRE((*b)["threads"].size() == 2);
  for (const auto &t : (*b)["threads"]) {
    double kernel = busy_threads.at(t["tid"].get<long>());
    INFO("thread " << t.dump() << " schedstat " << kernel);
    CHECK(std::abs(t["cpu_ns"].get<double>() - kernel) <= 0.02 * kernel);
  }

  const auto *f = row_of(top, fifo_pid);
  REQUIRE(f != nullptr);
  recorded = (*f)["cpu_ns"].get<double>();
  INFO("SCHED_FIFO spinner: recorded " << recorded << " schedstat " << fifo_sched << " stat " << fifo_stat);
  REQUIRE(fifo_sched > 2e9);  // real-time: it gets its CPU whatever else runs
  CHECK(std::abs(recorded - fifo_sched) <= 0.02 * fifo_sched);
  CHECK(std::abs(recorded - fifo_stat) <= 0.02 * fifo_stat + 2e7);
  CHECK((*f)["policy"] == "SCHED_FIFO");
  CHECK((*f)["cpus_allowed"] == "1");
  // Busiest first.
  for (size_t i = 1; i < top.size(); i++) CHECK(top[i - 1]["cpu_ns"].get<double>() >= top[i]["cpu_ns"].get<double>());
}

// The CPU-health findings on real conditions: a SCHED_FIFO spinner pinned to one CPU makes that
// CPU much worse than its peers (cpu-anomaly, with the calibration loop's ratio), and a cgroup
// with a CPU quota of 20 % running a busy loop is throttled (cpu-throttled), its throttled time
// equal to what the kernel's cpu.stat counted.
#include <catch2/catch.hpp>

#include <sched.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include "live_support.h"

namespace {

std::string read_file(const std::string &path) {
  std::ifstream in(path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

void write_file(const std::string &path, const std::string &text) {
  std::ofstream out(path);
  out << text;
  out.flush();
  if (!out) live::skip("cannot write " + path);
}

const nlohmann::json *finding(const nlohmann::json &report, const std::string &id) {
  for (const auto &f : report["findings"])
    if (f["id"] == id) return &f;
  return nullptr;
}

// A cgroup with a CPU quota in whichever hierarchy has the cpu controller: v1's cpu (hybrid
// hosts, like the CI machine) or v2's root (pure v2 hosts).
class QuotaCgroup {
 public:
  explicit QuotaCgroup(double cpus) {
    const std::string name = "triage-quota-" + std::to_string(::getpid());
    if (::access("/sys/fs/cgroup/cpu/cpu.cfs_quota_us", F_OK) == 0) {
      dir_ = "/sys/fs/cgroup/cpu/" + name;
      live::sh("mkdir -p " + dir_);
      write_file(dir_ + "/cpu.cfs_period_us", "100000");
      write_file(dir_ + "/cpu.cfs_quota_us", std::to_string(static_cast<int>(cpus * 100000)));
      v2_ = false;
    } else if (read_file("/sys/fs/cgroup/cgroup.controllers").find("cpu") != std::string::npos) {
      write_file("/sys/fs/cgroup/cgroup.subtree_control", "+cpu");
      dir_ = "/sys/fs/cgroup/" + name;
      live::sh("mkdir -p " + dir_);
      write_file(dir_ + "/cpu.max", std::to_string(static_cast<int>(cpus * 100000)) + " 100000");
      v2_ = true;
    } else {
      live::skip("no cgroup hierarchy with the cpu controller (neither v1 cpu nor v2 cpu)");
    }
    path_ = "/" + name;
  }
  ~QuotaCgroup() { ::rmdir(dir_.c_str()); }
  void add(pid_t pid) { write_file(dir_ + "/cgroup.procs", std::to_string(pid)); }
  // cpu.stat's throttled time, in ns.
  uint64_t throttled_ns() const {
    std::istringstream in(read_file(dir_ + "/cpu.stat"));
    std::string key;
    uint64_t value = 0;
    while (in >> key >> value) {
      if (!v2_ && key == "throttled_time") return value;
      if (v2_ && key == "throttled_usec") return value * 1000;
    }
    return 0;
  }
  const std::string &path() const { return path_; }

 private:
  std::string dir_, path_;
  bool v2_ = false;
};

}  // namespace

TEST_CASE("cpu-anomaly: a SCHED_FIFO spinner pinned to one CPU names that CPU and the task") {
  if (std::thread::hardware_concurrency() < 2) live::skip("needs two CPUs: one to hog, one for its peers");
  // Without RT throttling a FIFO spinner would hold the CPU for good, kernel threads included.
  if (read_file("/proc/sys/kernel/sched_rt_runtime_us").find("-1") == 0)
    live::skip("RT throttling is off (sched_rt_runtime_us = -1): a FIFO spinner would starve the CPU");
  live::TempDir dir;
  live::Child spinner(
      "triage-rtspin",
      [] {
        sched_param param{};
        param.sched_priority = 10;
        if (sched_setscheduler(0, SCHED_FIFO, &param) != 0) std::_Exit(3);
        live::spin_forever();
      },
      1);
  live::sleep_s(0.5);
  const auto before = live::read_schedstat(spinner.pid());
  live::Recording rec(dir.file("rt.db"), {"-d", "4", "--probes", "sched"});
  REQUIRE(rec.wait_attached());
  REQUIRE(rec.wait() == 0);
  const auto after = live::read_schedstat(spinner.pid());
  const pid_t spinner_pid = spinner.pid();
  spinner.kill_and_reap();

  auto report = live::report_json(dir.file("rt.db"));
  INFO("findings: " << report["findings"].dump());
  const auto *anomaly = finding(report, "cpu-anomaly");
  REQUIRE(anomaly != nullptr);
  const auto &evidence = (*anomaly)["evidence"];
  CHECK(evidence["cpu"] == 1);
  REQUIRE(evidence["realtime_task"].is_object());
  CHECK(evidence["realtime_task"]["pid"] == spinner_pid);
  CHECK(evidence["realtime_task"]["policy"] == "SCHED_FIFO");
  // The calibration loop ran on each CPU at both edges, its ratio for the hogged CPU in the
  // evidence. (Not necessarily slow: the kernel keeps a share of each CPU for ordinary tasks, and
  // a few-millisecond loop may fit in it.)
  INFO("calibration: " << report["sched"]["calibration"].dump());
  CHECK(evidence["calibration_ratio"].get<double>() > 0);
  for (const char *edge : {"start", "end"}) {
    INFO(edge);
    const auto &run = report["sched"]["calibration"][edge];
    REQUIRE(run.is_object());
    bool has_cpu1 = false;
    for (const auto &c : run["cpus"]) has_cpu1 = has_cpu1 || (c["cpu"] == 1 && c["ratio"].get<double>() > 0);
    CHECK(has_cpu1);
  }
  // The spinner's CPU time as the kernel counted it, against the report's (the window is inside
  // the schedstat span, so the report's is at most it and most of it).
  uint64_t reported = 0;
  for (const auto &p : report["sched"]["top_cpu"])
    if (p["pid"] == spinner_pid) reported = p["cpu_ns"].get<uint64_t>();
  const double kernel_ns = static_cast<double>(after.cpu_ns - before.cpu_ns);
  CHECK(static_cast<double>(reported) <= kernel_ns * 1.02);
  CHECK(static_cast<double>(reported) >= kernel_ns * 0.6);
}

TEST_CASE("cpu-throttled: a cgroup at 20 % of a CPU running a busy loop, as cpu.stat counts it") {
  live::TempDir dir;
  QuotaCgroup cgroup(0.2);
  live::Recording rec(dir.file("quota.db"), {"-d", "5", "--probes", "sched"});
  REQUIRE(rec.wait_attached());
  const uint64_t throttled_before = cgroup.throttled_ns();
  uint64_t throttled_after = 0;
  pid_t busy_pid = 0, probe_pid = 0;
  {
    live::Child busy("triage-quota", [] { live::spin_forever(); });
    // The latency probe: a task that only wants 1 ms now and then, stuck behind the quota.
    live::Child probe("triage-qprobe", [] {
      for (;;) {
        auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(1);
        while (std::chrono::steady_clock::now() < until) {
        }
        ::usleep(10'000);
      }
    });
    busy_pid = busy.pid();
    probe_pid = probe.pid();
    cgroup.add(busy_pid);
    cgroup.add(probe_pid);
    live::sleep_s(3);
    busy.kill_and_reap();
    probe.kill_and_reap();
    throttled_after = cgroup.throttled_ns();
  }
  REQUIRE(rec.wait() == 0);

  auto report = live::report_json(dir.file("quota.db"));
  INFO("findings: " << report["findings"].dump());
  INFO("cgroup_quota: " << report["sched"]["cgroup_quota"].dump());
  const auto *throttled = finding(report, "cpu-throttled");
  REQUIRE(throttled != nullptr);
  const auto &evidence = (*throttled)["evidence"];
  CHECK(evidence["cgroup"] == cgroup.path());
  CHECK(evidence["quota_cpus"].get<double>() == Approx(0.2));
  const double kernel_ns = static_cast<double>(throttled_after - throttled_before);
  REQUIRE(kernel_ns > 1e9);  // 80 % of 3 s: the condition was real
  CHECK(evidence["throttled_ns"].get<double>() == Approx(kernel_ns).epsilon(0.05));
  bool names_busy = false;
  for (const auto &p : evidence["processes"]) names_busy = names_busy || p["pid"] == busy_pid;
  CHECK(names_busy);
  // The throttled tasks waited runnable with idle CPUs: if that read as CPU-busy, the quota is
  // named as its cause.
  if (finding(report, "cpu-saturation")) CHECK((*throttled)["explains"] == nlohmann::json::array({"cpu-saturation"}));
  (void)probe_pid;
}

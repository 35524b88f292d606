// CPU quotas of cgroups (cgroup v2 cpu.max, v1 cpu.cfs_quota_us): a container throttled by its
// quota waits runnable while the CPUs sit idle. The tracepoints count that wait as run-queue
// latency and runnable load, which reads as "CPU-busy" without busy CPUs; the kernel's own
// cpu.stat says it was the quota. The sampler finds the cgroups that have a quota
// (a walk every few intervals: hosts run hundreds of cgroups, few with quotas) and reads their
// cpu.stat each interval. Kept apart from the real /sys so that tests use made-up trees.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace triage::sched {

// Where the cpu controller is mounted: the v2 hierarchy (only when it has the cpu controller) and
// the v1 cpu hierarchy, from /proc/self/mounts' text. Hybrid hosts have the v1 one only.
struct CpuHierarchy {
  std::string mount;  // "/sys/fs/cgroup", "/sys/fs/cgroup/cpu,cpuacct"
  bool v2 = false;
  // v1: where cpuacct (CPU usage) is mounted, the same as `mount` when co-mounted; empty if nowhere.
  std::string cpuacct_mount;
};
std::vector<CpuHierarchy> cpu_hierarchies(std::string_view mounts_text);

struct QuotaCgroup {
  std::string dir;       // the directory: mount + path
  std::string path;      // as /proc/<pid>/cgroup names it: "/system.slice/x.service", "/" for the root
  bool v2 = false;
  double quota_cpus = 0;  // quota / period: 0.2 = a fifth of one CPU
  std::string usage_file;  // v1: its cpuacct.usage (empty: none); v2 has usage in cpu.stat
};

// The cgroups under `hierarchy` with a quota, at most `limit`, visiting at most `max_dirs`
// directories (a host with a hundred thousand cgroups must not stall the sampler).
std::vector<QuotaCgroup> find_quota_cgroups(const CpuHierarchy &hierarchy, size_t limit, size_t max_dirs);

// The quota of one cgroup directory; nullopt without one ("max", -1) or unreadable.
std::optional<double> read_quota_cpus(const std::string &dir, bool v2);

struct CpuStat {
  uint64_t nr_periods = 0, nr_throttled = 0;
  uint64_t throttled_ns = 0;
  uint64_t usage_ns = 0;  // v2 usage_usec; v1 cpuacct.usage (0 without cpuacct)
};
// cpu.stat's text: v2 ("usage_usec", "throttled_usec") or v1 ("throttled_time" in ns).
std::optional<CpuStat> parse_cpu_stat(std::string_view text, bool v2);
std::optional<CpuStat> read_cpu_stat(const QuotaCgroup &cgroup);

// The first `limit` processes of the cgroup (cgroup.procs), to tie the throttling to them.
std::vector<uint32_t> cgroup_processes(const QuotaCgroup &cgroup, size_t limit);

}  // namespace triage::sched

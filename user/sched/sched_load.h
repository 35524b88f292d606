// The load decomposition's arithmetic, kept apart from libbpf so that it is tested with made-up
// accumulator values: how many tasks, on average, waited for a CPU or sat in D over an interval.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "sched/sched_abi.h"

namespace triage::sched {

// Integrals of the number of waiting tasks over [base, t], by wait kind, in task-nanoseconds.
struct LoadIntegrals {
  uint64_t t_ns = 0;  // since base_ns
  std::array<double, SCHED_WAIT_KINDS> area_ns{};
  std::vector<uint64_t> runq_wait_here_ns;  // per CPU: run-queue waits that ended there
  uint64_t switches = 0, wakeups = 0;
  uint64_t events_produced = 0, events_lost = 0, task_state_missing = 0, proc_map_full = 0;
};

// Sums the per-CPU copies read at time t (ns since base_ns) into the integrals.
LoadIntegrals integrate(const std::vector<sched_cpu_acc> &per_cpu, uint64_t t_ns);

struct CpuInterval {
  int cpu = 0;
  double busy_pct = 0;    // from /proc/stat
  double runnable = 0;    // average tasks waiting that ended their wait on this CPU
};

struct LoadInterval {
  double running = 0;   // average tasks on a CPU (sum of busy fractions)
  double runnable = 0;  // average tasks waiting on a run queue
  double blocked = 0;   // average tasks in D that count toward the load
  double blocked_io = 0, blocked_mem = 0, blocked_other = 0;
  std::vector<CpuInterval> cpus;
};

// CPU time counters of one /proc/stat cpuN line, in ticks.
struct CpuTimes {
  uint64_t busy = 0;   // user + nice + system + irq + softirq + steal
  uint64_t total = 0;  // busy + idle + iowait
};
std::vector<CpuTimes> read_proc_stat_cpus(const char *path = "/proc/stat");

// The averages over (earlier, later]; cpu times may be empty (then running stays 0).
LoadInterval load_between(const LoadIntegrals &earlier, const LoadIntegrals &later,
                          const std::vector<CpuTimes> &cpu_earlier, const std::vector<CpuTimes> &cpu_later);

}  // namespace triage::sched

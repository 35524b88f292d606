// The load decomposition's arithmetic, kept apart from libbpf so that it is tested with made-up
// accumulator values: how many tasks, on average, waited for a CPU or sat in D over an interval,
// machine-wide and per CPU.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "sched/sched_abi.h"

namespace triage::sched {

using KindAreas = std::array<double, SCHED_WAIT_KINDS>;

// Integrals of the number of waiting tasks over [base, t], by wait kind, in task-nanoseconds.
struct LoadIntegrals {
  uint64_t t_ns = 0;  // since base_ns
  // Per CPU (the CPU that owns each span: where the task was queued or went to sleep). The
  // machine-wide integral is their sum; no per-CPU value is derived any other way.
  std::vector<KindAreas> area_ns_by_cpu;
  uint64_t switches = 0, wakeups = 0;
  uint64_t events_produced = 0, events_lost = 0, task_state_missing = 0, proc_map_full = 0;
  uint64_t stale_spans_closed = 0, exit_spans_closed = 0, runs_unattributed = 0;
};

// Folds each owner CPU's transfer entry (spans it opened that closed elsewhere) into its
// accumulator; per_cpu[i] and transfers[i] are CPU i's.
void add_span_transfers(std::vector<sched_cpu_acc> &per_cpu, const std::vector<sched_span_transfer> &transfers);

// Integrates the per-CPU copies read at time t (ns since base_ns).
LoadIntegrals integrate(const std::vector<sched_cpu_acc> &per_cpu, uint64_t t_ns);

struct CpuInterval {
  int cpu = 0;
  double busy_pct = 0;  // from /proc/stat
  double runnable = 0;  // average tasks waiting on this CPU's run queue
  double blocked = 0;   // average tasks in D that went to sleep on this CPU
  // Of busy_pct, the shares the tasks did not get: stolen by the hypervisor, spent in hard and
  // soft interrupts (a CPU that serves a NIC's queues, a storm of timer or IPI interrupts).
  double steal_pct = 0, irq_pct = 0;
};

struct LoadInterval {
  double running = 0;   // average tasks on a CPU (sum of busy fractions)
  double runnable = 0;  // average tasks waiting on a run queue: the sum of the CPUs' values
  double blocked = 0;   // average tasks in D that count toward the load: likewise
  double blocked_io = 0, blocked_mem = 0, blocked_other = 0;
  std::vector<CpuInterval> cpus;
};

// CPU time counters of one /proc/stat cpuN line, in ticks.
struct CpuTimes {
  uint64_t busy = 0;   // user + nice + system + irq + softirq + steal
  uint64_t total = 0;  // busy + idle + iowait
  uint64_t irq = 0;    // irq + softirq
  uint64_t steal = 0;
};
std::vector<CpuTimes> read_proc_stat_cpus(const char *path = "/proc/stat");

// The averages over (earlier, later]; cpu times may be empty (then running stays 0). Each CPU's
// value is clamped at 0 (a span read half-moved between a CPU and its transfer entry can make a
// sliver negative) and the machine-wide values are the sums of the clamped per-CPU values, so the
// two can never disagree.
LoadInterval load_between(const LoadIntegrals &earlier, const LoadIntegrals &later,
                          const std::vector<CpuTimes> &cpu_earlier, const std::vector<CpuTimes> &cpu_later);

}  // namespace triage::sched

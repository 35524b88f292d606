// The sched family's rows in the recording, declared once for the sampler that writes them
// (sched_family.cpp), the section builder that reads them (sched_report.cpp) and block's D-state
// tie (block_report.cpp): a renamed field fails to compile instead of reading 0.
//
//   meta  "sched.config"          SchedConfig: the constants of the window
//   delta "sched" / "counters"    SchedCounters: one row, the family's counters
//   delta "sched" / "processes"   ProcessRow per process: waits by kind and CPU time
//   gauge "sched" / "processes/labels"
//                                 its labels(), written when they change (core/delta_table.h)
//   delta "sched" / "dstate_stacks"
//                                 DStateStackRow per (process, kernel stack) of long D waits
//   gauge "sched" / "dstate_stacks/labels"
//                                 its labels() (the process's name)
//   gauge "sched" / "cpu_details/<pid>"
//                                 CpuDetails: what /proc said of a process at the CPU top
//   hist  "sched" / runq, d_io, d_mem, d_other
//                                 the interval's waits (already per interval)
//   series "sched" / "load"       LoadRow: the interval's average tasks by state
//   series "sched" / "cpus"       CpusRow: the same per CPU, by column
//                                 (top_cpu_series is derived from the process rows)
//   series "sched" / "pressure"   PressureRow: the interval's PSI stall shares (where the kernel has PSI)
//   delta "sched" / "cgroup_quota"
//                                 CgroupQuotaRow per cgroup with a CPU quota: its cpu.stat
//   meta  "sched.calibration_start", "sched.calibration_end"
//                                 CalibrationRun (sched/cpu_calibration.h): the loop on each CPU
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/compact_json.h"
#include "core/delta_table.h"
#include "sched/sched_load.h"

namespace triage::sched {

inline constexpr const char *kConfigMeta = "sched.config";
inline constexpr const char *kCountersTable = "counters";
inline constexpr const char *kProcessesTable = "processes";
inline constexpr const char *kCgroupQuotaTable = "cgroup_quota";
inline constexpr const char *kCalibrationStartMeta = "sched.calibration_start";
inline constexpr const char *kCalibrationEndMeta = "sched.calibration_end";
inline constexpr const char *kDStateStacksTable = "dstate_stacks";
inline std::string cpu_details_gauge(uint32_t pid) { return "cpu_details/" + std::to_string(pid); }

struct SchedConfig {
  std::string method;               // the hook set: tp_btf or raw_tp
  uint64_t outlier_threshold_ns = 0;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(SchedConfig, method, outlier_threshold_ns)

// Totals since attach in the sampler; a slice's sum in the report.
struct SchedCounters : SingleKey {
  uint64_t switches = 0, wakeups = 0;
  uint64_t events_produced = 0, events_lost = 0, events_delivered = 0;
  uint64_t task_state_missing = 0, proc_map_full = 0;
  uint64_t stale_spans_closed = 0, exit_spans_closed = 0, runs_unattributed = 0;
  uint64_t rank() const { return 0; }
  static constexpr auto counters() {
    return std::tuple{&SchedCounters::switches,           &SchedCounters::wakeups,
                      &SchedCounters::events_produced,    &SchedCounters::events_lost,
                      &SchedCounters::events_delivered,   &SchedCounters::task_state_missing,
                      &SchedCounters::proc_map_full,      &SchedCounters::stale_spans_closed,
                      &SchedCounters::exit_spans_closed,  &SchedCounters::runs_unattributed};
  }
  static constexpr auto peaks() { return std::tuple{}; }
  static constexpr auto histograms() { return std::tuple{}; }
  static constexpr auto fields() {
    return std::tuple{Field{"switches", &SchedCounters::switches},
                      Field{"wakeups", &SchedCounters::wakeups},
                      Field{"events_produced", &SchedCounters::events_produced},
                      Field{"events_lost", &SchedCounters::events_lost},
                      Field{"events_delivered", &SchedCounters::events_delivered},
                      Field{"task_state_missing", &SchedCounters::task_state_missing},
                      Field{"proc_map_full", &SchedCounters::proc_map_full},
                      Field{"stale_spans_closed", &SchedCounters::stale_spans_closed},
                      Field{"exit_spans_closed", &SchedCounters::exit_spans_closed},
                      Field{"runs_unattributed", &SchedCounters::runs_unattributed}};
  }
};
// Stored compact (core/compact_json.h): most counters stay 0 in most intervals.
inline void to_json(nlohmann::json &j, const SchedCounters &row) { compact_to_json(j, row, SchedCounters::fields()); }
inline void from_json(const nlohmann::json &j, SchedCounters &row) { compact_from_json(j, row, SchedCounters::fields()); }

// One process (thread group): its threads' waits by kind and CPU time. Ranked at report time into
// top_runq, top_dstate and top_cpu; each interval keeps whole the 64 that spent the most time
// waiting or running in it (rank()), the rest in its 'other' row.
struct ProcessRow {
  uint32_t pid = 0;
  // Labels (the last written at or before a slice's end win): the name and cgroup /proc showed,
  // the sample (monotonic ns) at which it first showed that name (0: never; BPF's name), BPF's name
  // when it differs (the process exec'd or renamed itself after its first event).
  std::string comm, cgroup, prev_comm;
  uint64_t comm_seen_ns = 0;
  uint64_t runq_total_ns = 0, runq_count = 0, runq_max_ns = 0;
  uint64_t d_io_total_ns = 0, d_io_count = 0, d_io_max_ns = 0;
  uint64_t d_mem_total_ns = 0, d_mem_count = 0, d_mem_max_ns = 0;
  uint64_t d_other_total_ns = 0, d_other_count = 0, d_other_max_ns = 0;
  uint64_t oncpu_ns = 0;

  uint32_t key() const { return pid; }
  uint64_t d_total_ns() const { return d_io_total_ns + d_mem_total_ns + d_other_total_ns; }
  uint64_t d_count() const { return d_io_count + d_mem_count + d_other_count; }
  uint64_t d_max_ns() const { return std::max({d_io_max_ns, d_mem_max_ns, d_other_max_ns}); }
  uint64_t rank() const { return runq_total_ns + d_total_ns() + oncpu_ns; }
  static constexpr auto labels() {
    return std::tuple{&ProcessRow::comm, &ProcessRow::cgroup, &ProcessRow::prev_comm, &ProcessRow::comm_seen_ns};
  }
  static constexpr auto counters() {
    return std::tuple{&ProcessRow::runq_total_ns,    &ProcessRow::runq_count,   &ProcessRow::d_io_total_ns,
                      &ProcessRow::d_io_count,       &ProcessRow::d_mem_total_ns, &ProcessRow::d_mem_count,
                      &ProcessRow::d_other_total_ns, &ProcessRow::d_other_count, &ProcessRow::oncpu_ns};
  }
  static constexpr auto peaks() {
    return std::tuple{&ProcessRow::runq_max_ns, &ProcessRow::d_io_max_ns, &ProcessRow::d_mem_max_ns,
                      &ProcessRow::d_other_max_ns};
  }
  static constexpr auto histograms() { return std::tuple{}; }
  static constexpr auto fields() {
    return std::tuple{Field{"pid", &ProcessRow::pid},
                      Field{"comm", &ProcessRow::comm},
                      Field{"cgroup", &ProcessRow::cgroup},
                      Field{"prev_comm", &ProcessRow::prev_comm},
                      Field{"comm_seen_ns", &ProcessRow::comm_seen_ns},
                      Field{"runq_total_ns", &ProcessRow::runq_total_ns},
                      Field{"runq_count", &ProcessRow::runq_count},
                      Field{"runq_max_ns", &ProcessRow::runq_max_ns},
                      Field{"d_io_total_ns", &ProcessRow::d_io_total_ns},
                      Field{"d_io_count", &ProcessRow::d_io_count},
                      Field{"d_io_max_ns", &ProcessRow::d_io_max_ns},
                      Field{"d_mem_total_ns", &ProcessRow::d_mem_total_ns},
                      Field{"d_mem_count", &ProcessRow::d_mem_count},
                      Field{"d_mem_max_ns", &ProcessRow::d_mem_max_ns},
                      Field{"d_other_total_ns", &ProcessRow::d_other_total_ns},
                      Field{"d_other_count", &ProcessRow::d_other_count},
                      Field{"d_other_max_ns", &ProcessRow::d_other_max_ns},
                      Field{"oncpu_ns", &ProcessRow::oncpu_ns}};
  }
};
// Stored compact (core/compact_json.h): the table is written for every process that changed in
// every interval, and leaving out the zeros and empty labels halves it.
inline void to_json(nlohmann::json &j, const ProcessRow &row) { compact_to_json(j, row, ProcessRow::fields()); }
inline void from_json(const nlohmann::json &j, ProcessRow &row) { compact_from_json(j, row, ProcessRow::fields()); }

// A kernel stack where a process's threads waited in D, sampled once per interval for each task
// then in D longer than the threshold (bpf/sched/sched_stacks.bpf.h). `samples`: how many times a
// task of the process was found waiting there. `wait_ns`: the D time those samples saw, each
// counting the part of its wait (open since at least the threshold) that fell in the interval
// before it, so for a task that waits across samples it sums to its D time there. Waits shorter
// than the threshold, or that began and ended between two samples, are not in it.
struct DStateStackRow {
  uint32_t pid = 0;        // thread-group id; 0 with stack_id 0: the stacks past the bound, summed
  uint64_t stack_id = 0;   // stack_id_of(stack): the key, so that rows need not carry the frames
  // Labels, stored when they change (once per key): the frame names, innermost first, joined by
  // ';' ("0x<hex>" for an address no symbol names), and the group leader's name.
  std::string stack, comm;
  uint64_t samples = 0, wait_ns = 0;
  uint64_t max_wait_ns = 0;  // the longest wait so far any sample saw

  std::pair<uint32_t, uint64_t> key() const { return {pid, stack_id}; }
  uint64_t rank() const { return wait_ns; }
  std::vector<std::string> frames() const {
    std::vector<std::string> out;
    for (size_t start = 0; start < stack.size();) {
      size_t end = std::min(stack.find(';', start), stack.size());
      out.push_back(stack.substr(start, end - start));
      start = end + 1;
    }
    return out;
  }
  // FNV-1a of the joined frames (never 0: that is the bound's row).
  static uint64_t stack_id_of(const std::string &stack) {
    uint64_t h = 14695981039346656037ull;
    for (unsigned char c : stack) h = (h ^ c) * 1099511628211ull;
    return h ? h : 1;
  }
  static constexpr auto labels() { return std::tuple{&DStateStackRow::stack, &DStateStackRow::comm}; }
  static constexpr auto counters() { return std::tuple{&DStateStackRow::samples, &DStateStackRow::wait_ns}; }
  static constexpr auto peaks() { return std::tuple{&DStateStackRow::max_wait_ns}; }
  static constexpr auto histograms() { return std::tuple{}; }
  static constexpr auto fields() {
    return std::tuple{Field{"pid", &DStateStackRow::pid},         Field{"stack_id", &DStateStackRow::stack_id},
                      Field{"samples", &DStateStackRow::samples}, Field{"wait_ns", &DStateStackRow::wait_ns},
                      Field{"max_wait_ns", &DStateStackRow::max_wait_ns}, Field{"stack", &DStateStackRow::stack},
                      Field{"comm", &DStateStackRow::comm}};
  }
};
inline void to_json(nlohmann::json &j, const DStateStackRow &row) { compact_to_json(j, row, DStateStackRow::fields()); }
inline void from_json(const nlohmann::json &j, DStateStackRow &row) { compact_from_json(j, row, DStateStackRow::fields()); }

struct ThreadCpuRow {
  uint32_t tid = 0;
  std::string comm;
  uint64_t cpu_ns = 0;  // from the window's start to the reading
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(ThreadCpuRow, tid, comm, cpu_ns)

// What /proc said of a process while it was among the interval's largest CPU users: a level,
// read at the gauge's time (a slice shows the last reading at or before its end).
struct CpuDetails {
  std::string policy;        // SCHED_OTHER, SCHED_FIFO, ...
  int nice = 0;
  std::string cpus_allowed;  // "0-1"
  std::vector<ThreadCpuRow> threads;  // busiest first
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(CpuDetails, policy, nice, cpus_allowed, threads)

// The interval's average tasks in each state, over its length dt_s (the report weighs by it).
struct LoadRow {
  double dt_s = 0;
  double running = 0, runnable = 0, blocked = 0;
  double blocked_io = 0, blocked_mem = 0, blocked_other = 0;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(LoadRow, dt_s, running, runnable, blocked, blocked_io, blocked_mem,
                                                blocked_other)

// A CPU's averages, as the report lists them and as "cpus" rows held them before schema 4.
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(CpuInterval, cpu, busy_pct, runnable, blocked, steal_pct, irq_pct)

// The interval's CpuIntervals by column, one array per measure: a 64-CPU host would write the
// four names 64 times a second. A column shorter than `cpu` reads as 0 for the CPUs it lacks.
struct CpusRow {
  double dt_s = 0;
  std::vector<int> cpu;
  std::vector<double> busy_pct, runnable, blocked;
  // Recorded since steal and IRQ time were split out; older recordings read them as 0.
  std::vector<double> steal_pct, irq_pct;

  static CpusRow of(double dt_s, const std::vector<CpuInterval> &cpus) {
    CpusRow row{dt_s, {}, {}, {}, {}, {}, {}};
    for (const auto &c : cpus) {
      row.cpu.push_back(c.cpu);
      row.busy_pct.push_back(c.busy_pct);
      row.runnable.push_back(c.runnable);
      row.blocked.push_back(c.blocked);
      row.steal_pct.push_back(c.steal_pct);
      row.irq_pct.push_back(c.irq_pct);
    }
    return row;
  }
  std::vector<CpuInterval> cpus() const {
    auto at = [](const std::vector<double> &column, size_t i) { return i < column.size() ? column[i] : 0.0; };
    std::vector<CpuInterval> out;
    for (size_t i = 0; i < cpu.size(); i++) {
      CpuInterval c{cpu[i], at(busy_pct, i), at(runnable, i), at(blocked, i)};
      c.steal_pct = at(steal_pct, i);
      c.irq_pct = at(irq_pct, i);
      out.push_back(c);
    }
    return out;
  }
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(CpusRow, dt_s, cpu, busy_pct, runnable, blocked, steal_pct, irq_pct)

// The interval's pressure stall information: the percent of it in which some (or all) runnable
// tasks stalled on the resource (/proc/pressure; the machine-wide cpu "full" is always 0).
struct PressureRow {
  double dt_s = 0;
  double cpu_some = 0, io_some = 0, io_full = 0, memory_some = 0, memory_full = 0;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(PressureRow, dt_s, cpu_some, io_some, io_full, memory_some,
                                                memory_full)

// One cgroup with a CPU quota, as its cpu.stat counts: the report ties its throttling to the
// processes in it. Keyed by the path /proc/<pid>/cgroup shows for the cpu controller.
struct CgroupQuotaRow {
  std::string cgroup;
  // Labels: the hierarchy ("v2", "v1"), the quota in thousandths of a CPU, and the first
  // processes in it ("pid pid ..."), as read when it was last throttled.
  std::string hierarchy;
  uint64_t quota_millicpus = 0;
  std::string pids;
  uint64_t periods = 0, throttled_periods = 0, throttled_ns = 0, usage_ns = 0;

  const std::string &key() const { return cgroup; }
  uint64_t rank() const { return throttled_ns + usage_ns / 1000; }
  static constexpr auto labels() {
    return std::tuple{&CgroupQuotaRow::hierarchy, &CgroupQuotaRow::quota_millicpus, &CgroupQuotaRow::pids};
  }
  static constexpr auto counters() {
    return std::tuple{&CgroupQuotaRow::periods, &CgroupQuotaRow::throttled_periods, &CgroupQuotaRow::throttled_ns,
                      &CgroupQuotaRow::usage_ns};
  }
  static constexpr auto peaks() { return std::tuple{}; }
  static constexpr auto histograms() { return std::tuple{}; }
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(CgroupQuotaRow, cgroup, hierarchy, quota_millicpus, pids, periods,
                                                throttled_periods, throttled_ns, usage_ns)

}  // namespace triage::sched

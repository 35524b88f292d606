// CPU time per process and per thread over the window: `top`, the method's first look after the
// load average. The BPF side adds each finished run to its process's row (sched_proc_stats.oncpu_ns);
// this adds the runs still going on each CPU and, for the top rows, what /proc says of the
// process: its busiest threads, scheduling policy, nice and allowed CPUs. Kept apart from libbpf,
// with /proc behind a root path, so that it is tested on a made-up /proc.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "sched/sched_processes.h"

namespace triage::sched {

// se.sum_exec_runtime (ns) of a thread: the first field of /proc/<tgid>/task/<tid>/schedstat.
std::optional<uint64_t> thread_exec_runtime_ns(const std::string &proc_root, uint32_t tgid, uint32_t tid);

// Adds to each process's oncpu_ns the part of the runs still going on a CPU (the BPF side only
// adds a run when it ends): what the thread's schedstat has grown since its switch-in.
void add_running_cpu_time(std::vector<ProcessWaits> &rows, const std::vector<sched_cpu_running> &running,
                          const std::string &proc_root);

struct SchedulingAttributes {
  std::string policy;        // as the kernel spells it: SCHED_OTHER, SCHED_FIFO, ...
  int nice = 0;
  std::string cpus_allowed;  // "0-1", as /proc/<pid>/status Cpus_allowed_list
};
// Of a live process; nullopt once it is gone.
std::optional<SchedulingAttributes> scheduling_attributes(const std::string &proc_root, uint32_t pid);
const char *policy_name(int policy);

struct ThreadCpu {
  uint32_t tid = 0;
  std::string comm;
  uint64_t cpu_ns = 0;
};
// The live threads of `tgid` with their CPU time in the window: schedstat now minus the value at
// attach (`exec_at_start`, nullopt for a thread the seeding pass did not see: then 0 if the thread
// started after `window_start_ticks` (clock ticks since boot, as /proc/<pid>/stat's starttime),
// else the thread is left out, its window share unknown). Busiest first, at most `limit`.
std::vector<ThreadCpu> busiest_threads(const std::string &proc_root, uint32_t tgid, uint64_t window_start_ticks,
                                       const std::function<std::optional<uint64_t>(uint32_t tid)> &exec_at_start,
                                       size_t limit);

}  // namespace triage::sched

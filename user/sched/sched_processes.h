// The sched family's per-process totals as userspace assembles them from the BPF maps, kept apart
// from libbpf so that the merge is tested with made-up rows.
#pragma once

#include <cstdint>
#include <vector>

#include "sched/sched_abi.h"

namespace triage::sched {

struct ProcessWaits {
  uint32_t tgid = 0;
  sched_proc_stats stats{};
};

// Adds every CPU's write-back cache (struct sched_proc_cache) to the rows read from proc_stats:
// totals and counts add up, maxima take the larger, and a process only in a cache gets a row with
// the cache's name for it.
void add_cached_processes(std::vector<ProcessWaits> &rows, const std::vector<sched_proc_cache> &caches);

}  // namespace triage::sched

#include "sched/sched_processes.h"

#include <algorithm>
#include <unordered_map>

namespace triage::sched {

void add_cached_processes(std::vector<ProcessWaits> &rows, const std::vector<sched_proc_cache> &caches) {
  std::unordered_map<uint32_t, size_t> row_of;
  for (size_t i = 0; i < rows.size(); i++) row_of.emplace(rows[i].tgid, i);
  for (const auto &cache : caches) {
    for (const auto &e : cache.entries) {
      if (!e.used) continue;
      auto [it, added] = row_of.try_emplace(e.tgid, rows.size());
      if (added) {
        rows.push_back({e.tgid, e.stats});
        continue;
      }
      sched_proc_stats &row = rows[it->second].stats;
      row.oncpu_ns += e.stats.oncpu_ns;
      for (int kind = 0; kind < SCHED_WAIT_KINDS; kind++) {
        row.total_ns[kind] += e.stats.total_ns[kind];
        row.count[kind] += e.stats.count[kind];
        row.max_ns[kind] = std::max(row.max_ns[kind], e.stats.max_ns[kind]);
      }
    }
  }
}

}  // namespace triage::sched

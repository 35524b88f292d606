#include "sched/sched_load.h"

#include <algorithm>
#include <cstdio>
#include <cstring>

namespace triage::sched {

LoadIntegrals integrate(const std::vector<sched_cpu_acc> &per_cpu, uint64_t t_ns) {
  LoadIntegrals out;
  out.t_ns = t_ns;
  out.runq_wait_here_ns.reserve(per_cpu.size());
  for (int kind = 0; kind < SCHED_WAIT_KINDS; kind++) {
    // Summed in signed integers first: one CPU's copy may have more closes than opens.
    int64_t closed = 0, open = 0, open_starts = 0;
    for (const auto &acc : per_cpu) {
      closed += static_cast<int64_t>(acc.closed_ns[kind]);
      open += acc.open[kind];
      open_starts += acc.open_start_sum[kind];
    }
    double area = static_cast<double>(closed) + static_cast<double>(open) * static_cast<double>(t_ns) -
                  static_cast<double>(open_starts);
    out.area_ns[kind] = area < 0 ? 0 : area;
  }
  for (const auto &acc : per_cpu) {
    out.runq_wait_here_ns.push_back(acc.runq_wait_here_ns);
    out.switches += acc.switches;
    out.wakeups += acc.wakeups;
    out.events_produced += acc.events_produced;
    out.events_lost += acc.events_lost;
    out.task_state_missing += acc.task_state_missing;
    out.proc_map_full += acc.proc_map_full;
  }
  return out;
}

std::vector<CpuTimes> read_proc_stat_cpus(const char *path) {
  std::vector<CpuTimes> cpus;
  FILE *f = std::fopen(path, "re");
  if (!f) return cpus;
  char line[512];
  while (std::fgets(line, sizeof line, f)) {
    if (std::strncmp(line, "cpu", 3) != 0) break;
    if (line[3] == ' ') continue;  // the aggregate line
    int cpu = -1;
    unsigned long long v[8] = {};
    int n = std::sscanf(line, "cpu%d %llu %llu %llu %llu %llu %llu %llu %llu", &cpu, &v[0], &v[1], &v[2],
                        &v[3], &v[4], &v[5], &v[6], &v[7]);
    if (n < 5 || cpu < 0) continue;
    // user nice system idle iowait irq softirq steal (older kernels stop earlier: missing = 0)
    CpuTimes t;
    t.busy = v[0] + v[1] + v[2] + v[5] + v[6] + v[7];
    t.total = t.busy + v[3] + v[4];
    if (static_cast<size_t>(cpu) >= cpus.size()) cpus.resize(cpu + 1);
    cpus[cpu] = t;
  }
  std::fclose(f);
  return cpus;
}

LoadInterval load_between(const LoadIntegrals &earlier, const LoadIntegrals &later,
                          const std::vector<CpuTimes> &cpu_earlier, const std::vector<CpuTimes> &cpu_later) {
  LoadInterval out;
  if (later.t_ns <= earlier.t_ns) return out;
  double span = static_cast<double>(later.t_ns - earlier.t_ns);
  auto average = [&](int kind) {
    double d = later.area_ns[kind] - earlier.area_ns[kind];
    return d > 0 ? d / span : 0.0;
  };
  out.runnable = average(SCHED_WAIT_RUNQ);
  out.blocked_io = average(SCHED_WAIT_D_IO);
  out.blocked_mem = average(SCHED_WAIT_D_MEM);
  out.blocked_other = average(SCHED_WAIT_D_OTHER);
  out.blocked = out.blocked_io + out.blocked_mem + out.blocked_other;

  size_t ncpu = std::max(later.runq_wait_here_ns.size(), cpu_later.size());
  for (size_t cpu = 0; cpu < ncpu; cpu++) {
    CpuInterval c;
    c.cpu = static_cast<int>(cpu);
    if (cpu < later.runq_wait_here_ns.size() && cpu < earlier.runq_wait_here_ns.size() &&
        later.runq_wait_here_ns[cpu] >= earlier.runq_wait_here_ns[cpu])
      c.runnable = static_cast<double>(later.runq_wait_here_ns[cpu] - earlier.runq_wait_here_ns[cpu]) / span;
    if (cpu < cpu_later.size() && cpu < cpu_earlier.size()) {
      uint64_t total = cpu_later[cpu].total - cpu_earlier[cpu].total;
      uint64_t busy = cpu_later[cpu].busy - cpu_earlier[cpu].busy;
      if (total > 0 && cpu_later[cpu].total >= cpu_earlier[cpu].total && busy <= total)
        c.busy_pct = 100.0 * static_cast<double>(busy) / static_cast<double>(total);
    }
    out.running += c.busy_pct / 100.0;
    out.cpus.push_back(c);
  }
  return out;
}

}  // namespace triage::sched

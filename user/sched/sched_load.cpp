#include "sched/sched_load.h"

#include <algorithm>
#include <cstdio>
#include <cstring>

namespace triage::sched {

void add_span_transfers(std::vector<sched_cpu_acc> &per_cpu, const std::vector<sched_span_transfer> &transfers) {
  for (size_t cpu = 0; cpu < per_cpu.size() && cpu < transfers.size(); cpu++) {
    for (int kind = 0; kind < SCHED_WAIT_KINDS; kind++) {
      per_cpu[cpu].open[kind] += transfers[cpu].open[kind];
      per_cpu[cpu].open_start_sum[kind] += transfers[cpu].open_start_sum[kind];
      per_cpu[cpu].closed_ns[kind] += transfers[cpu].closed_ns[kind];
    }
  }
}

LoadIntegrals integrate(const std::vector<sched_cpu_acc> &per_cpu, uint64_t t_ns) {
  LoadIntegrals out;
  out.t_ns = t_ns;
  out.area_ns_by_cpu.reserve(per_cpu.size());
  for (const auto &acc : per_cpu) {
    KindAreas areas{};
    for (int kind = 0; kind < SCHED_WAIT_KINDS; kind++)
      areas[kind] = static_cast<double>(acc.closed_ns[kind]) +
                    static_cast<double>(acc.open[kind]) * static_cast<double>(t_ns) -
                    static_cast<double>(acc.open_start_sum[kind]);
    out.area_ns_by_cpu.push_back(areas);
    out.switches += acc.switches;
    out.wakeups += acc.wakeups;
    out.events_produced += acc.events_produced;
    out.events_lost += acc.events_lost;
    out.task_state_missing += acc.task_state_missing;
    out.proc_map_full += acc.proc_map_full;
    out.stale_spans_closed += acc.stale_spans_closed;
    out.exit_spans_closed += acc.exit_spans_closed;
    out.runs_unattributed += acc.runs_unattributed;
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
    t.irq = v[5] + v[6];
    t.steal = v[7];
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
  size_t ncpu = std::max(later.area_ns_by_cpu.size(), cpu_later.size());
  for (size_t cpu = 0; cpu < ncpu; cpu++) {
    CpuInterval c;
    c.cpu = static_cast<int>(cpu);
    if (cpu < later.area_ns_by_cpu.size() && cpu < earlier.area_ns_by_cpu.size()) {
      auto average = [&](int kind) {
        double d = later.area_ns_by_cpu[cpu][kind] - earlier.area_ns_by_cpu[cpu][kind];
        return d > 0 ? d / span : 0.0;
      };
      c.runnable = average(SCHED_WAIT_RUNQ);
      double io = average(SCHED_WAIT_D_IO), mem = average(SCHED_WAIT_D_MEM), other = average(SCHED_WAIT_D_OTHER);
      c.blocked = io + mem + other;
      out.runnable += c.runnable;
      out.blocked_io += io;
      out.blocked_mem += mem;
      out.blocked_other += other;
    }
    if (cpu < cpu_later.size() && cpu < cpu_earlier.size()) {
      uint64_t total = cpu_later[cpu].total - cpu_earlier[cpu].total;
      uint64_t busy = cpu_later[cpu].busy - cpu_earlier[cpu].busy;
      if (total > 0 && cpu_later[cpu].total >= cpu_earlier[cpu].total && busy <= total) {
        auto share = [&](uint64_t CpuTimes::*part) {
          uint64_t later = cpu_later[cpu].*part, earlier = cpu_earlier[cpu].*part;
          return later >= earlier ? std::min(100.0, 100.0 * static_cast<double>(later - earlier) / static_cast<double>(total))
                                  : 0.0;
        };
        c.busy_pct = 100.0 * static_cast<double>(busy) / static_cast<double>(total);
        c.steal_pct = share(&CpuTimes::steal);
        c.irq_pct = share(&CpuTimes::irq);
      }
    }
    out.running += c.busy_pct / 100.0;
    out.cpus.push_back(c);
  }
  out.blocked = out.blocked_io + out.blocked_mem + out.blocked_other;
  return out;
}

}  // namespace triage::sched

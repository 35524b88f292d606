// Writes the sched family's rows as its sampler does (sched/sched_rows.h), for unit tests that
// make up a recording: the config meta, the counters and per-process delta tables, and the
// per-interval histogram rows.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/delta_table.h"
#include "core/histogram.h"
#include "record/recording.h"
#include "sched/sched_rows.h"

namespace triage::sched_test {

inline void write_config(RecordingWriter &w, const std::string &method = "tp_btf",
                         uint64_t outlier_threshold_ns = 10'000'000) {
  w.set_meta(sched::kConfigMeta, sched::SchedConfig{method, outlier_threshold_ns});
}

// Totals since attach at `t_ns`, as the sampler hands them to its delta tables.
inline void write_counters(RecordingWriter &w, uint64_t t_ns, const sched::SchedCounters &totals) {
  DeltaTable<sched::SchedCounters>("sched", sched::kCountersTable).write(t_ns, {totals}, w);
}
inline void write_processes(RecordingWriter &w, uint64_t t_ns, const std::vector<sched::ProcessRow> &totals) {
  DeltaTable<sched::ProcessRow>("sched", sched::kProcessesTable).write(t_ns, totals, w);
}

inline sched::ProcessRow runq_row(uint32_t pid, const std::string &comm, const std::string &cgroup, uint64_t total_ns,
                                  uint64_t count, uint64_t max_ns) {
  sched::ProcessRow row;
  row.pid = pid;
  row.comm = comm;
  row.cgroup = cgroup;
  row.runq_total_ns = total_ns;
  row.runq_count = count;
  row.runq_max_ns = max_ns;
  return row;
}

inline sched::ProcessRow dstate_io_row(uint32_t pid, const std::string &comm, const std::string &cgroup,
                                       uint64_t total_ns, uint64_t count, uint64_t max_ns) {
  sched::ProcessRow row;
  row.pid = pid;
  row.comm = comm;
  row.cgroup = cgroup;
  row.d_io_total_ns = total_ns;
  row.d_io_count = count;
  row.d_io_max_ns = max_ns;
  return row;
}

// One interval's waits of `kind` (runq, d_io, d_mem, d_other), each value in µs.
inline void write_waits(RecordingWriter &w, uint64_t t_ns, const char *kind, const std::vector<uint64_t> &values_us) {
  Log2Histogram h;
  for (uint64_t v : values_us) h.add(v);
  w.add_hist(t_ns, "sched", kind, h.to_json("us"));
}

}  // namespace triage::sched_test

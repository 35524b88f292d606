// What the scheduler's tracepoints cannot see of the CPUs, read from the kernel's own counters
// at the sched family's pace: pressure stall information each interval, the throttling of cgroups
// with a CPU quota (cpu.stat), and the calibration loop on each CPU at the window's two edges.
// All /proc and /sys reads, no BPF: it works on every kernel and fails part by part.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <optional>
#include <vector>

#include "core/delta_table.h"
#include "core/pressure.h"
#include "record/recording.h"
#include "sched/cgroup_quota.h"
#include "sched/cpu_calibration.h"
#include "sched/sched_rows.h"

namespace triage::sched {

class CpuHealthSampler {
 public:
  // `cgroup_dir`: --cgroup's directory (empty: all); only quotas on its path or below are read.
  explicit CpuHealthSampler(std::string cgroup_dir = {}) : cgroup_dir_(std::move(cgroup_dir)) {}

  // At attach: the start calibration, PSI's baseline, the cgroups with a quota.
  void start(uint64_t now_ns);
  // Each interval: the pressure row, the quota table, and the calibrations not yet written.
  void sample(uint64_t now_ns, double dt_s, RecordingWriter &out);
  // Before the last sample: the end calibration.
  void finish();

 private:
  void discover_quota_cgroups();
  void sample_quotas(uint64_t now_ns, RecordingWriter &out);

  std::string cgroup_dir_;
  PressureReading last_pressure_;
  uint64_t last_pressure_ns_ = 0;
  std::vector<QuotaCgroup> quota_cgroups_;
  size_t samples_since_discovery_ = 0;
  std::map<std::string, CpuStat> baselines_;       // per cgroup: cpu.stat at its first reading
  std::map<std::string, uint64_t> last_throttled_;  // per cgroup: nr_throttled at the last sample
  std::map<std::string, std::string> members_;      // per cgroup: its processes when last throttled
  std::vector<CgroupQuotaRow> totals_;
  DeltaTable<CgroupQuotaRow> quota_table_{"sched", kCgroupQuotaTable};
  std::optional<CalibrationRun> start_calibration_, end_calibration_;
  bool start_written_ = false, end_written_ = false;
};

}  // namespace triage::sched

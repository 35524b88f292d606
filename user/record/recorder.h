// `triage record`: attach the families, record one window into a recording, print the report.
#pragma once

#include <string>
#include <vector>

#include "core/family.h"

namespace triage {

struct RecordRequest {
  RecordOptions options;
  std::string output;                 // empty: triage-<host>-<UTC time>.db
  std::vector<std::string> families;  // sched, block, tcp, oom
  bool quiet = false;
  bool measure_overhead = false;      // turn on bpf_stats for the window (its cost: design figure R1, bench/RESULTS.md)
  uint64_t max_size_bytes = 0;        // --max-size; 0: default_size_cap() of the output directory
};

int run_record(const RecordRequest &request);

// The recording's default size cap: 512 MiB, or half the space free where it is written if that
// is less. 512 MiB holds minutes of the worst event storms (~100 k events/s written at ~100
// bytes each) and hours of interval rows; half the free space keeps the recorder from filling
// the disk of the machine it is diagnosing.
uint64_t default_size_cap(const std::string &output_path);
inline constexpr uint64_t kDefaultMaxSizeBytes = 512ull << 20;

// Fills cgroup_id and cgroup_subsys from cgroup_path (v2 or a v1 controller's hierarchy).
Result<void> resolve_cgroup(RecordOptions &options, const KernelFeatures &kernel);

// `triage probes`: what this kernel and privilege level allow, probe by probe.
std::vector<ProbeStatus> probe_kernel(const std::vector<std::string> &families, const RecordOptions &options);
std::unique_ptr<Family> make_family(const std::string &name);

}  // namespace triage

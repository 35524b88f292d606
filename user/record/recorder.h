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
  bool measure_overhead = false;      // turn on bpf_stats for the window (costs ~20 ns per run)
};

int run_record(const RecordRequest &request);

// Fills cgroup_id and cgroup_subsys from cgroup_path (v2 or a v1 controller's hierarchy).
Result<void> resolve_cgroup(RecordOptions &options, const KernelFeatures &kernel);

// `triage probes`: what this kernel and privilege level allow, probe by probe.
std::vector<ProbeStatus> probe_kernel(const std::vector<std::string> &families, const RecordOptions &options);
std::unique_ptr<Family> make_family(const std::string &name);

}  // namespace triage

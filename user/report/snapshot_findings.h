// Findings from the /proc checklist taken at the start and end of the window (memory, swap,
// zombies, PIDs, disk space, inodes, deleted files held open). They need no BPF, so they hold
// even when every probe failed.
#pragma once

#include <nlohmann/json.hpp>

namespace triage {

// Reads report["snapshot"]["start"] and ["end"] (either may be null or partial) and appends
// {id, severity, title, evidence, advice} rows to findings.
void add_snapshot_findings(const nlohmann::json &report, nlohmann::json &findings);

}  // namespace triage

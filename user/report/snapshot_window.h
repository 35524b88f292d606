// The /proc checklist read against the window it was recorded around: the kernel log keeps lines
// from long before the window, and /proc/net counts for one network namespace since boot.
#pragma once

#include <cstdint>

#include <nlohmann/json.hpp>

namespace triage {

// Marks every kernel-log line of the report's snapshots `in_window` (true or false), with
// `before_window_s` / `after_window_s` (how long before the start / after the end; null when
// inside), and gives the end snapshot `netstat_during_window`: what the tcp family counted per
// network namespace during the window ([{netns, name, this_namespace, counters}], null when tcp
// was not recorded), so that since-boot counters of one namespace are not read as the window's.
// Window times are CLOCK_MONOTONIC ns, as the recording's meta holds them.
void place_snapshots_in_window(nlohmann::json &report, uint64_t window_start_ns, uint64_t window_end_ns);

}  // namespace triage

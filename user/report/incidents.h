// Findings that need more than one family, and the cause that explains other findings.
//
// server-saturated and server-stall judge a listener's owner (tcp.servers: the listener's accept
// queue and its accepted sockets, sample by sample) against the CPU it used (sched.top_cpu,
// top_cpu_series, cpu_busy_series). Then link_causes() puts each cause first: a saturated or
// stalled server explains its listen overflows, its clients' timeouts, resets, retransmits and a
// pegged CPU, so those are listed under it (`explains` on the cause, `explained_by` on each
// symptom) instead of as separate verdicts.
#pragma once

#include <nlohmann/json.hpp>

namespace triage {

// Appends server-saturated and server-stall, judged per sample of the report's slice.
void add_incident_findings(const nlohmann::json &report, nlohmann::json &findings);
// Marks the symptoms each cause explains and orders the findings cause first, its symptoms right
// after it. `findings` is sorted by severity already; a cause takes its worst symptom's severity.
void link_causes(nlohmann::json &findings);

}  // namespace triage

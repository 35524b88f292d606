// The sched section of the report: built from the recording, rendered as text, and its findings.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "record/recording.h"
#include "report/top_table.h"

namespace triage::sched {

// `sched` as INTERFACE.md defines it, or null when the family was not recorded.
json build_section(const RecordingReader &recording, uint64_t window_start_mono_ns);
void render_text(const json &section, std::string &out);
// The sched section of the HTML page (sched_html.cpp). It takes the whole report: it shades the
// findings' spans and marks the OOM kills on its load chart.
void render_html(const json &report, std::string &out);
// The processes with the most run-queue wait and D-state time (sched_top.cpp), as the text and
// the page draw them.
const TopTable &top_runq_table();
const TopTable &top_dstate_table();
// The processes that used the most CPU, with their busiest threads (sched_top.cpp).
void render_top_cpu(const json &section, std::string &out);
// cpu-saturation, io-saturation, cpu-imbalance and the CPU-health findings: appended to `findings`.
void add_findings(const json &report, json &findings);

// What /proc and /sys said of the CPUs (sched_cpu_health.cpp): `pressure`, `cgroup_quota`,
// `calibration` added to the section; their text; cpu-steal, cpu-anomaly, cpu-throttled.
void add_cpu_health(const RecordingReader &recording, uint64_t window_start_mono_ns, json &section);
void render_cpu_health_text(const json &section, std::string &out);
void add_cpu_health_findings(const json &report, json &findings);

}  // namespace triage::sched

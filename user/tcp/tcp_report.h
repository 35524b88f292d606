// The tcp section of the report: built from the recording, rendered as text, and its findings.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "record/recording.h"

namespace triage::tcp {

// `tcp` as INTERFACE.md defines it (plus by_port, lifetime, netstat, resets), or null when the
// family was not recorded.
json build_section(const RecordingReader &recording, uint64_t window_start_mono_ns);
// Classifies the reset events (rows of tcp.resets.events: kind, t_ns, the 4-tuple and the
// per-socket stamps) into tcp.read_timeouts and tcp.keepalive_races rows.
json read_timeouts(const json &reset_events);
json keepalive_races(const json &reset_events);
void render_text(const json &section, std::string &out);
// listen-overflow, syn-flood, close-wait-leak, time-wait-churn, retransmits, read-timeout,
// keepalive-race, connect-timeout-risk.
void add_findings(const json &report, json &findings);

}  // namespace triage::tcp

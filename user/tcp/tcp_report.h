// The tcp section of the report: built from the recording, rendered as text, and its findings.
#pragma once

#include <string>
#include <vector>

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

// What a renderer with room for `limit` rows shows of a list kept in time order: the first rows,
// with the one largest by `largest_key` always among them (it replaces the last when it came
// later). `caption` says so ("first 9 of 31 by time, and the longest"), empty when all are shown.
struct ShownRows {
  std::vector<size_t> index;
  std::string caption;
};
ShownRows first_rows_with_largest(const json &rows, size_t limit, const char *largest_key, const char *largest_name);
// "top 10 of 200 by segments" for a list sorted largest first, empty when all `total` are shown.
std::string top_caption(size_t shown, uint64_t total, const char *by);
// listen-overflow, syn-flood, close-wait-leak, time-wait-churn, retransmits, read-timeout,
// keepalive-race, connect-timeout-risk.
void add_findings(const json &report, json &findings);

}  // namespace triage::tcp

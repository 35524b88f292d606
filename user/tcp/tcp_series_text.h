// The TCP time series in the text report, compactly: a reader chasing a CLOSE_WAIT leak or a full
// accept queue needs when the counts moved and which resets came when, not only the window's end.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "tcp/tcp_report.h"

namespace triage::tcp {

// Socket states and accept backlog per interval, only the intervals where a value changed (and
// the first and last), at most `limit` rows with a line saying how many were left out.
void render_socket_series(const nlohmann::json &section, std::string &out, size_t limit = 30);
// Which reset events a report lists: the first `limit - 1` by time and the last (the end of a storm
// is news too), with "first 9 of 12 by time, and the last" or "all 5". Text and HTML show the same.
ShownRows reset_events_shown(const nlohmann::json &events, size_t limit = kListedEvents);
// Reset events with their times, as reset_events_shown() picks them.
void render_reset_events(const nlohmann::json &section, std::string &out, size_t limit = kListedEvents);

}  // namespace triage::tcp

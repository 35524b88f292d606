// The TCP time series in the text report, compactly: a reader chasing a CLOSE_WAIT leak or a full
// accept queue needs when the counts moved and which resets came when, not only the window's end.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace triage::tcp {

// Socket states and accept backlog per interval, only the intervals where a value changed (and
// the first and last), at most `limit` rows with a line saying how many were left out.
void render_socket_series(const nlohmann::json &section, std::string &out, size_t limit = 30);
// Reset events with their times: the first `limit - 1` and the last, saying "first N of M".
void render_reset_events(const nlohmann::json &section, std::string &out, size_t limit = 10);

}  // namespace triage::tcp

// Text building blocks shared by every family's text section.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace triage {

// Makes a string from the traced machine safe to print: control bytes (ESC, newlines, ...) and
// invalid UTF-8 become \xNN, so no process name can move the cursor or recolour a terminal.
std::string printable(std::string_view raw);
// A BCC-style log2 histogram ("usecs : count distribution") of a report histogram.
void render_histogram(const nlohmann::json &hist, std::string_view value_name, std::string &out);
std::string format_duration_ns(uint64_t ns);  // "850us", "12.3ms", "4.20s"
void heading(std::string_view title, std::string &out);
// The width of a table's name column: `at_least`, or wider for the first `shown` rows' names as
// printed ("rt_spin (was taskset)"), so that no name pushes its row's numbers out of line.
size_t name_width(const nlohmann::json &rows, size_t shown, size_t at_least);
// What a list shown in part holds, said alike in every section and renderer: "all 7" when nothing
// is left out, else "top 10 of 57 by total wait" (or "first 10 of 57" when `ranked_by` is empty).
std::string list_extent(size_t shown, size_t total, std::string_view ranked_by);
// The heading of a section's outlier list (keys outlier_threshold_ns, outliers, outliers_total,
// outliers_first_t/last_t, lost_events), e.g. "waits above 10.0ms: 122 in the window, from 3.10s
// to 18.20s, lost events 0; top 15 of 122 by duration, in time order; the JSON report holds the
// longest 200". `what` names the rows ("waits above"), `shown` is how many follow.
std::string outlier_heading(std::string_view what, const nlohmann::json &section, size_t shown);

}  // namespace triage

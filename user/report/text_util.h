// Text building blocks shared by every family's text section.
#pragma once

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

}  // namespace triage

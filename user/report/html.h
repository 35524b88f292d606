// The postmortem as one self-contained HTML file: inline CSS and inline SVG charts drawn here, no
// script, font, stylesheet or network fetch, so it opens in any browser and attaches to a ticket.
#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace triage {

// Renders a report built by build_report(). Tolerates null families and missing keys.
std::string render_html(const nlohmann::json &report);

// Text from the traced machine made safe for HTML text and attribute values: control characters
// and invalid UTF-8 become "\xNN", bidirectional overrides "?", and & < > " ' entities.
std::string html_escape(std::string_view raw);

}  // namespace triage

// The oom section of the report: built from the recording, rendered as text, and its findings.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "record/recording.h"

namespace triage::oom {

// `oom` as INTERFACE.md defines it, or null when the family was not recorded.
json build_section(const RecordingReader &recording, uint64_t window_start_mono_ns);
void render_text(const json &section, std::string &out);
// The oom section of the HTML page (oom_html.cpp), from the whole report as every family's is.
void render_html(const json &report, std::string &out);
// oom-kill (critical): the victims, what triggered them, and what to do.
void add_findings(const json &report, json &findings);

}  // namespace triage::oom

// The report model: one JSON value shaped as ../shared/INTERFACE.md says, built from a recording.
// Renderers (text, HTML) take only this model, so they are tested without a kernel.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "record/recording.h"

namespace triage {

inline constexpr const char *kReportSchema = "triage.report/1";

json build_report(const RecordingReader &recording);
std::string render_text(const json &report);
// What the tracer itself cost over the window, in one plain-text line (both renderers show it).
std::string overhead_summary(const json &overhead);

}  // namespace triage

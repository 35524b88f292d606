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

}  // namespace triage

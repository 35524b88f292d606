// The report model: one JSON value shaped as ../shared/INTERFACE.md says, built from a recording.
// Renderers (text, HTML) take only this model, so they are tested without a kernel.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "core/result.h"
#include "record/recording.h"
#include "report/slice_args.h"

namespace triage {

inline constexpr const char *kReportSchema = "triage.report/1";

// The report of the reader's slice (the whole window unless the reader was set to one).
json build_report(const RecordingReader &recording);
std::string render_text(const json &report);
// What the tracer itself cost over the window, in one plain-text line (both renderers show it).
std::string overhead_summary(const json &overhead);

// The whole of `triage report`: open the recording, build the model, render it as "text", "json"
// or "html". A file that is not a readable recording, or whose rows break what the model expects
// (a missing key, a wrong type, an absurd size), is an Error with kExitUsage and one line: the
// renderers read recorded JSON with the library's accessors, which throw on such rows, and this
// is the one place that turns the throw into an error.
// `slice`: --from/--to/--last as given (none: the whole window).
Result<std::string> report_from_file(const std::string &path, const std::string &format, const SliceArgs &slice = {});

}  // namespace triage

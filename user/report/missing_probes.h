// What the report cannot see when a probe is missing. A probe that failed, was skipped or was
// switched off leaves a hole in the postmortem; the reader must know which conclusions are
// blind, not just that a line says "failed".
#pragma once

#include <string>

namespace triage {

// One sentence: what a window recorded without `probe` does not show. Unknown probes get a
// generic sentence naming their family.
std::string what_missing_probe_hides(const std::string &probe, const std::string &family);

}  // namespace triage

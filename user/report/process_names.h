// One name per process across the report's sections. Each family takes a process's name where it
// meets it (the scheduler's first event, /proc at a sample, a ring-buffer record, a socket's
// owner at listen()), so the same pid could read `taskset` in one section and `rt_spin` in
// another: the names before and after an exec. The report names it everywhere by its last sight.
#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace triage {

// Rewrites every name pair in the sched, block, tcp and oom sections (`pid`/`comm`, and the
// `waker_`, `victim_` and `trigger_` pairs) to the newest name seen for that pid in any of them,
// with `<prefix>prev_comm` the name it had before that one where it had another. A row's time is
// its `t`, else its `comm_t` (when /proc showed the name); a row without either counts as the
// oldest sight (a BPF name from the process's first event). Rows that may name a process by one
// of its threads (a socket's owner, a request's submitter) take the process's own name when it
// was seen at a known time, and never make a `prev_comm`. Run before the findings, which quote
// the names.
void resolve_process_names(nlohmann::json &report);

// A resolved row's name as the renderers print it: "rt_spin (was taskset)", or "rt_spin".
std::string process_label(const nlohmann::json &row, std::string_view prefix = "");

}  // namespace triage

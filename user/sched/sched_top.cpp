// The sched section's top lists. Run-queue and D-state waits are one description each, which the
// text section and the page both draw (report/top_table.h); the CPU list, with its thread lines
// and what /proc said, is drawn here for the text and in sched_html.cpp for the page.
#include <fmt/format.h>

#include <algorithm>

#include "report/process_names.h"
#include "report/text_util.h"
#include "report/top_table.h"
#include "sched/sched_report.h"

namespace triage::sched {
namespace {

using namespace top_cells;

// 0 with waits: the longest was before the slice (the kernel keeps the longest since attach).
std::string text_longest(const json &p, const char *key) {
  return p.value(key, 0ULL) || !p.value("count", 0ULL) ? format_duration_ns(p.value(key, 0ULL)) : "-";
}

std::vector<TopColumn> wait_columns() {
  return {{"PID", "PID", "pid", 8, text_number, html_id},
          {"COMM", "command", "comm", TopColumn::kName, text_process, html_process},
          {"TOTAL", "total", "total_ns", 10, text_duration_ns, html_latency_ns},
          {"COUNT", "count", "count", 8, text_number, html_num},
          {"MAX", "longest", "max_ns", 10, text_longest, html_latency_ns},
          {"CGROUP", "cgroup", "cgroup", TopColumn::kLast, text_string, html_string}};
}

std::string seconds_text(uint64_t ns) { return fmt::format("{:.2f}s", static_cast<double>(ns) / 1e9); }

}  // namespace

const TopTable &top_runq_table() {
  static const TopTable table{"top_runq", "top processes by run-queue wait", "total wait", wait_columns()};
  return table;
}

const TopTable &top_dstate_table() {
  static const TopTable table{"top_dstate", "top processes by D-state time", "total wait", wait_columns()};
  return table;
}

// `top` over the window: who burned the CPU, with how it is scheduled and its busiest threads.
void render_top_cpu(const json &s, std::string &out) {
  const auto &rows = s.value("top_cpu", json::array());
  constexpr size_t kShown = 10;
  size_t total = s.value("top_cpu_total", rows.size());
  if (rows.empty()) {
    out += "\ntop processes by CPU time\n  (none)\n";
    return;
  }
  out += fmt::format("\ntop processes by CPU time (100% = one CPU for the whole window; top {} of {})\n",
                     std::min(rows.size(), kShown), total);
  out += fmt::format("  {:>8} {:<24} {:>9} {:>6} {:<14} {:>4} {:<8} {}\n", "PID", "COMM", "CPU", "CPU%", "POLICY",
                     "NICE", "CPUS", "CGROUP");
  size_t shown = 0;
  for (const auto &p : rows) {
    if (shown++ == kShown) break;
    std::string name = printable(p.value("comm", ""));
    if (p.contains("prev_comm")) name += fmt::format(" (was {})", printable(p.value("prev_comm", "")));
    out += fmt::format("  {:>8} {:<24} {:>9} {:>6.1f} {:<14} {:>4} {:<8} {}\n", p.value("pid", 0), name,
                       seconds_text(p.value("cpu_ns", 0ULL)), p.value("cpu_pct", 0.0), p.value("policy", "?"),
                       p.contains("nice") ? fmt::format("{}", p.value("nice", 0)) : "?",
                       printable(p.value("cpus_allowed", "?")), printable(p.value("cgroup", "")));
    const auto &threads = p.value("threads", json::array());
    if (threads.size() > 1) {
      std::string line = "           busiest threads:";
      for (const auto &t : threads)
        line += fmt::format(" {} {} {};", t.value("tid", 0), printable(t.value("comm", "")),
                            seconds_text(t.value("cpu_ns", 0ULL)));
      line.pop_back();
      out += line + "\n";
    }
  }
}

}  // namespace triage::sched

// The oom section of the HTML page: one row per kill (the sched section marks them on its load
// chart) and the machine's memory at the start and end of the window.
#include <fmt/format.h>

#include <string>
#include <vector>

#include "oom/oom_report.h"
#include "report/html_parts.h"

namespace triage::oom {

using namespace html;

void render_html(const json &report, std::string &out) {
  const json &o = report["oom"];
  if (!open_family_section("oom", "OOM kills", o, out)) return;
  const json &kills = arr(o, "kills");
  if (kills.empty()) out += R"(<p class="absent">no OOM kill in the window</p>)";
  else {
    std::vector<std::vector<std::string>> rows;
    for (const auto &k : kills) {
      const json &usage = at(k, "memcg_usage_kb"), &limit = at(k, "memcg_limit_kb");
      rows.push_back({fmt::format("{:.2f}s ({})", num(k, "t"), fmt_utc(to_u64(num(k, "time_ns")))),
                      fmt::format("{} ({})", html_escape(str(k, "victim_comm")), fmt_id(num(k, "victim_pid"))),
                      fmt_kb(num(k, "victim_rss_kb")), esc(at(k, "oom_score_adj")),
                      fmt::format("{} ({})", html_escape(str(k, "trigger_comm")), fmt_id(num(k, "trigger_pid"))),
                      html_escape(str(k, "memcg")), html_escape(str(k, "constraint")), fmt_id(num(k, "uid")),
                      fmt::format("{} / {} / {}", fmt_kb(num(k, "anon_rss_kb")), fmt_kb(num(k, "file_rss_kb")),
                                  fmt_kb(num(k, "shmem_rss_kb"))),
                      fmt_kb(num(k, "total_vm_kb")),
                      fmt::format("{} of {}", usage.is_number() ? fmt_kb(usage.get<double>()) : "-",
                                  limit.is_number() ? fmt_kb(limit.get<double>()) : "-"),
                      html_escape(str(k, "constraint_source"))});
    }
    out += keyed("kills", "<p>Each kill is also marked on the load chart above.</p>" +
                              table({"time", "victim", "victim RSS", "oom_score_adj", "triggered by", "memory cgroup",
                                     "constraint", "uid", "RSS anon / file / shmem", "virtual", "cgroup usage of limit",
                                     "constraint read from"},
                                    rows));
  }
  // The machine's memory around the window: a global OOM with much available at the start points
  // at a burst; with little, at a slow squeeze.
  std::vector<std::vector<std::string>> memory;
  for (const char *which : {"start", "end"}) {
    const json &m = at(at(o, "memory"), which);
    if (!m.is_object() || m.empty()) continue;
    memory.push_back({which, fmt_kb(num(m, "total_kb")), fmt_kb(num(m, "available_kb")), fmt_kb(num(m, "cached_kb")),
                      fmt::format("{} of {}", fmt_kb(num(m, "swap_free_kb")), fmt_kb(num(m, "swap_total_kb")))});
  }
  if (!memory.empty())
    out += keyed("memory", "<h3>Memory</h3>" + table({"at the", "total", "available", "cached", "swap free"}, memory, "narrow"));
  out += "</section>\n";
}

}  // namespace triage::oom

// The oom section of the HTML page: one row per kill (the sched section marks them on its load chart).
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
  if (kills.empty()) {
    out += R"(<p class="absent">no OOM kill in the window</p></section>)";
    return;
  }
  out += "<p>Each kill is also marked on the load chart above.</p>";
  std::vector<std::vector<std::string>> rows;
  for (const auto &k : kills)
    rows.push_back({fmt::format("{:.2f}s ({})", num(k, "t"), fmt_utc(to_u64(num(k, "time_ns")))),
                    fmt::format("{} ({})", html_escape(str(k, "victim_comm")), fmt_id(num(k, "victim_pid"))),
                    fmt_kb(num(k, "victim_rss_kb")), esc(at(k, "oom_score_adj")),
                    fmt::format("{} ({})", html_escape(str(k, "trigger_comm")), fmt_id(num(k, "trigger_pid"))),
                    html_escape(str(k, "memcg")), html_escape(str(k, "constraint"))});
  out += table({"time", "victim", "victim RSS", "oom_score_adj", "triggered by", "memory cgroup", "constraint"}, rows);
  out += "</section>\n";
}

}  // namespace triage::oom

#include "oom/oom_report.h"

#include <fmt/format.h>

#include <map>

#include "oom/oom_rows.h"
#include "report/finding_span.h"
#include "report/text_util.h"

namespace triage::oom {
namespace {

const char *const kMemKeys[] = {"total_kb", "available_kb", "cached_kb", "swap_total_kb", "swap_free_kb"};
constexpr size_t kVictimsInTitle = 3;

// The memory picture of a snapshot (its `mem`), with only the keys the snapshot has.
json memory_of(const std::optional<json> &snapshot) {
  if (!snapshot || !snapshot->is_object() || !snapshot->contains("mem") || !(*snapshot)["mem"].is_object())
    return nullptr;
  const json &mem = (*snapshot)["mem"];
  json out = json::object();
  for (const char *key : kMemKeys)
    if (mem.contains(key)) out[key] = mem[key];
  return out;
}

std::string format_kb(uint64_t kb) {
  if (kb >= 10ULL << 20) return fmt::format("{:.1f}GiB", static_cast<double>(kb) / (1 << 20));
  if (kb >= 10ULL << 10) return fmt::format("{:.1f}MiB", static_cast<double>(kb) / (1 << 10));
  return fmt::format("{}kB", kb);
}

std::string format_optional_kb(const json &v) { return v.is_number() ? format_kb(v.get<uint64_t>()) : "unlimited"; }

}  // namespace

json build_section(const RecordingReader &r, uint64_t start_mono) {
  auto config = r.meta(kOomConfigMeta);
  if (!config) return nullptr;
  const OomCounters counters = read_counters<OomCounters>(r, "oom", "counters");
  uint64_t start_realtime = r.meta("start_realtime_ns").value_or(0).get<uint64_t>();

  // The kernel marks a process again when it allocates while dying (a thread that faults after
  // the SIGKILL): one kill, several marks. /proc/vmstat's oom_kill counts the kill once.
  json kills = json::array();
  std::map<uint32_t, size_t> kill_of_pid;
  r.for_each_event("oom", "kill", [&](uint64_t t, const std::string &, const json &d) {
    uint32_t pid = d.value("victim_pid", 0U);
    auto it = kill_of_pid.find(pid);
    if (it != kill_of_pid.end()) {
      kills[it->second]["marks"] = kills[it->second].value("marks", 1) + 1;
      return;
    }
    json row = d;
    row["time_ns"] = t >= start_mono ? start_realtime + (t - start_mono) : start_realtime;
    row["t"] = t > start_mono ? static_cast<double>(t - start_mono) / 1e9 : 0.0;
    row["marks"] = 1;
    kill_of_pid[pid] = kills.size();
    kills.push_back(row);
  });

  json s;
  s["method"] = config->value("method", "");
  s["kills"] = kills;
  // A kill whose record was lost still happened: the program counted it.
  s["count"] = kills.size() + counters.events_lost;
  s["marks"] = counters.marks;
  s["lost_events"] = counters.events_lost;
  s["kmsg"] = config->value("kmsg", "");
  s["memory"] = {{"start", memory_of(r.snapshot("start"))}, {"end", memory_of(r.snapshot("end"))}};
  return s;
}

void render_text(const json &s, std::string &out) {
  heading("OOM kills: who was killed, where, and why?", out);
  if (s.is_null()) {
    out += "  not recorded\n";
    return;
  }
  out += fmt::format("  {} kill(s) in the window (lost events {})\n", s.value("count", 0ULL), s.value("lost_events", 0ULL));
  for (const auto &k : s["kills"]) {
    out += fmt::format("\n  {:.2f}s  killed {} ({}) uid {}, oom_score_adj {}\n", k.value("t", 0.0),
                       printable(k.value("victim_comm", "")), k.value("victim_pid", 0), k.value("uid", 0),
                       k.value("oom_score_adj", 0));
    out += fmt::format("      rss {} (anon {}, file {}, shmem {}), virtual {}\n", format_kb(k.value("victim_rss_kb", 0ULL)),
                       format_kb(k.value("anon_rss_kb", 0ULL)), format_kb(k.value("file_rss_kb", 0ULL)),
                       format_kb(k.value("shmem_rss_kb", 0ULL)), format_kb(k.value("total_vm_kb", 0ULL)));
    out += fmt::format("      memory cgroup {}: usage {} of limit {}\n", printable(k.value("memcg", "")),
                       k.value("memcg_usage_kb", json()).is_number() ? format_kb(k["memcg_usage_kb"].get<uint64_t>()) : "-",
                       format_optional_kb(k.value("memcg_limit_kb", json())));
    out += fmt::format("      constraint {} ({}); allocating when it happened: {} ({})\n", k.value("constraint", ""),
                       printable(k.value("constraint_source", "")), printable(k.value("trigger_comm", "")),
                       k.value("trigger_pid", 0));
  }
  const auto &mem = s["memory"];
  for (const char *which : {"start", "end"}) {
    const json &m = mem[which];
    if (!m.is_object() || m.empty()) continue;
    out += fmt::format("\n  memory at the {}: total {}, available {}, cached {}, swap free {} of {}\n", which,
                       format_kb(m.value("total_kb", 0ULL)), format_kb(m.value("available_kb", 0ULL)),
                       format_kb(m.value("cached_kb", 0ULL)), format_kb(m.value("swap_free_kb", 0ULL)),
                       format_kb(m.value("swap_total_kb", 0ULL)));
  }
}

void add_findings(const json &report, json &findings) {
  const json &s = report["oom"];
  if (s.is_null() || s.value("count", 0ULL) == 0) return;
  const json &kills = s["kills"];
  std::string victims;
  bool any_memcg = false, any_global = false;
  for (size_t i = 0; i < kills.size(); i++) {
    const json &k = kills[i];
    std::string c = k.value("constraint", "");
    any_memcg |= c == "memcg";
    any_global |= c == "global";
    if (i < kVictimsInTitle)
      victims += fmt::format("{}{} ({})", victims.empty() ? "" : ", ", k.value("victim_comm", ""), k.value("victim_pid", 0));
  }
  if (kills.size() > kVictimsInTitle) victims += fmt::format(" and {} more", kills.size() - kVictimsInTitle);
  if (victims.empty()) victims = "details lost (ring buffer full)";

  json evidence = {{"count", s.value("count", 0ULL)}, {"victims", victims}};
  // Each kill is a moment; the largest victim is the peak.
  ConditionSpan span;
  for (const auto &k : kills) span.observe(k.value("t", 0.0), k.value("victim_rss_kb", 0.0), true);
  if (!kills.empty()) {
    const json &k = kills[0];
    evidence["victim_rss_kb"] = k.value("victim_rss_kb", 0ULL);
    evidence["memcg"] = k.value("memcg", "");
    // operator[] on a const json with a missing key is undefined behaviour: a damaged recording
    // may lack these, so read them with a null default.
    evidence["memcg_limit_kb"] = k.value("memcg_limit_kb", json());
    evidence["memcg_usage_kb"] = k.value("memcg_usage_kb", json());
    evidence["constraint"] = k.value("constraint", "");
    evidence["trigger"] = fmt::format("{} ({})", k.value("trigger_comm", ""), k.value("trigger_pid", 0));
  }
  const json &end_mem = s["memory"]["end"];
  if (end_mem.is_object() && end_mem.contains("available_kb")) evidence["available_kb_at_end"] = end_mem["available_kb"];

  std::string where = any_memcg && !any_global ? " in a memory cgroup at its limit"
                      : any_global && !any_memcg ? " with the machine out of memory"
                                                 : "";
  std::string advice;
  if (any_memcg)
    advice += "A memory cgroup hit its limit (memory.max / memory.limit_in_bytes): raise the limit if the workload "
              "needs it, or find what grows in the victim (its RSS above; a leak shows as anon RSS that only rises). ";
  if (any_global || (!any_memcg && !any_global))
    advice += "The machine ran out of memory: find the largest consumers (ps -eo rss,comm --sort -rss), set memory "
              "limits on them, add memory or swap; protect critical services with a negative oom_score_adj. ";
  advice += "The trigger is the task that was allocating when the kill happened: not necessarily the one that grew.";
  json finding = {{"id", "oom-kill"},
                 {"severity", "critical"},
                 {"title", fmt::format("The OOM killer killed {}{}", victims, where)},
                 {"evidence", evidence},
                 {"advice", advice}};
  span.stamp(finding);
  findings.push_back(std::move(finding));
}

}  // namespace triage::oom

#include "report/report.h"

#include <fmt/format.h>

#include <algorithm>
#include <exception>
#include <new>

#include "report/html.h"
#include "report/snapshot_findings.h"
#include "report/text_util.h"
#include "families.h"
#include "snapshot/snapshot.h"

namespace triage {
namespace {

// Every family of the contract has a key in the report, recorded or not (then null).
const char *const kFamilies[] = {"sched", "block", "tcp", "oom"};

json window_of(const RecordingReader &r) {
  json m = r.all_meta();
  uint64_t start = m.value("start_realtime_ns", 0ULL);
  uint64_t start_mono = m.value("start_ns", 0ULL);
  // A window whose end was never written was cut off (SIGKILL, crash, power): it ends at the last
  // flush, which is the newest row of its time series.
  bool complete = m.contains("end_ns");
  uint64_t end_mono = m.value("end_ns", 0ULL);
  if (!complete) {
    end_mono = m.value("last_flush_ns", start_mono);
  }
  uint64_t duration_ns = end_mono > start_mono ? end_mono - start_mono : 0;
  return {{"start_ns", start},
          {"end_ns", start + duration_ns},
          {"duration_s", static_cast<double>(duration_ns) / 1e9},
          {"host", m.value("host", "")},
          {"kernel", m.value("kernel", "")},
          {"ncpu", m.value("ncpu", 0)},
          {"interval_s", m.value("interval_s", 1.0)},
          {"requested_duration_s", m.value("requested_duration_s", 0.0)},
          {"end_reason", complete ? m.value("end_reason", "duration") : "incomplete (the recorder was killed)"},
          {"cut_short", !complete || m.value("cut_short", false)},
          {"filters", m.value("filters", json::object())},
          {"triage_version", m.value("triage_version", "")}};
}

json probes_of(const RecordingReader &r) {
  json out = json::array();
  for (const auto &p : r.probes())
    out.push_back({{"name", p.name},
                   {"family", p.family},
                   {"hook", p.hook},
                   {"method", p.method},
                   {"status", p.status},
                   {"reason", p.reason}});
  return out;
}

json lost_of(const RecordingReader &r) {
  json by_family = json::object();
  uint64_t total = 0;
  for (const char *family : kFamilies) {
    auto counters = r.state(family, "counters");
    if (!counters) {
      by_family[family] = nullptr;
      continue;
    }
    uint64_t lost = counters->value("events_lost", 0ULL);
    by_family[family] = lost;
    total += lost;
  }
  return {{"total", total}, {"by_family", by_family}};
}

json overhead_of(const RecordingReader &r, double duration_s, int ncpu) {
  auto o = r.meta("overhead");
  if (!o || !o->is_object()) return {{"bpf_run_ns", nullptr}, {"bpf_run_cnt", nullptr}, {"cpu_pct", nullptr}};
  json out = *o;
  if (out.value("measured", false) && duration_s > 0 && ncpu > 0) {
    double run_s = static_cast<double>(out.value("bpf_run_ns", 0ULL)) / 1e9;
    // Share of the machine's CPU time (all CPUs) the BPF programs took during the window.
    out["cpu_pct"] = 100.0 * run_s / (duration_s * ncpu);
  } else {
    out["cpu_pct"] = nullptr;
  }
  return out;
}

int severity_rank(const std::string &s) { return s == "critical" ? 0 : s == "warning" ? 1 : 2; }

}  // namespace

json build_report(const RecordingReader &r) {
  json report;
  report["schema"] = kReportSchema;
  report["window"] = window_of(r);
  report["probes"] = probes_of(r);
  report["lost_events"] = lost_of(r);
  report["overhead"] = overhead_of(r, report["window"]["duration_s"], report["window"]["ncpu"]);
  report["snapshot"] = {{"start", r.snapshot("start").value_or(nullptr)}, {"end", r.snapshot("end").value_or(nullptr)}};
  uint64_t start_mono = r.meta("start_ns").value_or(0).get<uint64_t>();
  for (const char *family : kFamilies) report[family] = nullptr;
  for (const auto &family : all_families()) report[family.name] = family.build_section(r, start_mono);

  json findings = json::array();
  for (const auto &family : all_families()) family.add_findings(report, findings);
  add_snapshot_findings(report, findings);
  std::stable_sort(findings.begin(), findings.end(), [](const json &a, const json &b) {
    return severity_rank(a.value("severity", "")) < severity_rank(b.value("severity", ""));
  });
  report["findings"] = findings;
  return report;
}

namespace {

void render_verdict(const json &report, std::string &out) {
  const auto &w = report["window"];
  out += fmt::format("triage report: {} (kernel {}, {} CPUs), window {:.1f}s{}\n", printable(w.value("host", "")),
                     printable(w.value("kernel", "")), w.value("ncpu", 0), w.value("duration_s", 0.0),
                     w.value("cut_short", false) ? fmt::format(" — cut short: {}", w.value("end_reason", "")) : "");
  out += "\nVERDICT\n";
  const auto &findings = report["findings"];
  size_t serious = 0;
  for (const auto &f : findings) {
    std::string sev = f.value("severity", "");
    if (sev == "info") continue;
    serious++;
    out += fmt::format("  [{}] {}\n", sev == "critical" ? "CRITICAL" : "warning", printable(f.value("title", "")));
  }
  if (!serious) out += "  no warning or critical finding: nothing in this window points at CPU, I/O, memory or network trouble\n";

  size_t attached = 0, missing = 0;
  for (const auto &p : report["probes"]) (p.value("status", "") == "attached" ? attached : missing)++;
  const auto &lost = report["lost_events"];
  out += fmt::format("  probes attached: {}, not attached: {}; events lost: {}", attached, missing, lost.value("total", 0ULL));
  const auto &o = report["overhead"];
  if (!o["cpu_pct"].is_null())
    out += fmt::format("; tracer cost: {:.3f}% of CPU ({} BPF runs)", o["cpu_pct"].get<double>(),
                       o.value("bpf_run_cnt", 0ULL));
  else
    out += "; tracer cost: not measured (kernel.bpf_stats_enabled=0; use --measure-overhead)";
  out += "\n";
}

void render_findings(const json &report, std::string &out) {
  heading("Findings", out);
  if (report["findings"].empty()) out += "  (none)\n";
  for (const auto &f : report["findings"]) {
    out += fmt::format("  [{}] {} ({})\n", f.value("severity", ""), printable(f.value("title", "")), f.value("id", ""));
    std::string evidence;
    for (const auto &[key, value] : f["evidence"].items())
      evidence += fmt::format("{}{}={}", evidence.empty() ? "" : ", ", key,
                              value.is_string() ? printable(value.get<std::string>()) : value.dump());
    out += fmt::format("      evidence: {}\n      advice: {}\n", evidence, printable(f.value("advice", "")));
  }
}

void render_probes(const json &report, std::string &out) {
  heading("Probes", out);
  for (const auto &p : report["probes"]) {
    out += fmt::format("  {:<18} {:<6} {:<8} {:<9} {}\n", p.value("name", ""), p.value("family", ""),
                       p.value("method", ""), p.value("status", ""), printable(p.value("reason", "")));
  }
  const auto &programs = report["overhead"].value("programs", json::array());
  if (!programs.empty()) {
    out += "\n  BPF program cost over the window (bpf_stats):\n";
    for (const auto &p : programs)
      out += fmt::format("  {:<28} {:>12} runs {:>8.0f} ns/run\n", p.value("program", ""), p.value("run_cnt", 0ULL),
                         p.value("ns_per_run", 0.0));
  }
}

}  // namespace

std::string render_text(const json &report) {
  std::string out;
  render_verdict(report, out);
  render_findings(report, out);
  for (const auto &family : all_families()) {
    if (!report[family.name].is_null()) family.render_text(report[family.name], out);
  }
  for (const char *family : kFamilies) {
    if (report[family].is_null()) out += fmt::format("\n== {}: not recorded\n", family);
  }
  if (!report["snapshot"]["end"].is_null()) {
    heading("Checklist at the end of the window (/proc)", out);
    out += render_snapshot_text(report["snapshot"]["end"]);
  }
  render_probes(report, out);
  return out;
}

namespace {
// An exception's text made one line (a damaged row can put anything in it).
std::string one_line(const char *what) {
  std::string line = printable(what ? what : "");
  return line.size() > 300 ? line.substr(0, 300) + "..." : line;
}
}  // namespace

Result<std::string> report_from_file(const std::string &path, const std::string &format) {
  auto reader = RecordingReader::open(path);
  if (!reader) return reader.error();
  try {
    json report = build_report(**reader);
    if (format == "json") return report.dump(2, ' ', false, json::error_handler_t::replace) + "\n";
    if (format == "html") return render_html(report);
    return render_text(report);
  } catch (const std::bad_alloc &) {
    return usage_error(fmt::format("{}: damaged recording: a row asks for more memory than there is", path));
  } catch (const std::exception &e) {
    return usage_error(fmt::format("{}: damaged recording: {}", path, one_line(e.what())));
  }
}

}  // namespace triage

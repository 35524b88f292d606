#include "report/report.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <exception>
#include <new>

#include "core/histogram.h"
#include "core/loss_rows.h"
#include "report/missing_probes.h"
#include "report/html.h"
#include "report/process_names.h"
#include "report/incidents.h"
#include "report/snapshot_findings.h"
#include "report/slice_args.h"
#include "report/snapshot_window.h"
#include "report/text_util.h"
#include "families.h"
#include "snapshot/snapshot.h"

namespace triage {
namespace {

// A finding's numbers as its section shows them: to 0.01, and a whole number as a whole number
// (a finding computes with doubles; "runnable_avg=16.69360643892669" is noise to a reader).
void round_evidence(json &value) {
  if (value.is_number_float()) {
    double rounded = round_hundredth(value.get<double>());
    // The range first: converting a double past int64 (a damaged row's 1e19) is undefined.
    if (std::abs(rounded) < 9e15 && rounded == static_cast<double>(static_cast<int64_t>(rounded)))
      value = static_cast<int64_t>(rounded);
    else
      value = rounded;
  } else if (value.is_structured()) {
    for (auto &item : value) round_evidence(item);
  }
}

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
  json window = {{"start_ns", start},
          {"end_ns", start + duration_ns},
          {"duration_s", static_cast<double>(duration_ns) / 1e9},
          {"host", m.value("host", "")},
          {"kernel", m.value("kernel", "")},
          {"ncpu", m.value("ncpu", 0)},
          {"interval_s", m.value("interval_s", 1.0)},
          {"requested_duration_s", m.value("requested_duration_s", 0.0)},
          {"end_reason", complete ? m.value("end_reason", "duration")
                                 : "incomplete (the recorder stopped before writing the window's end: killed, "
                                   "crashed or out of disk space)"},
          {"cut_short", !complete || m.value("cut_short", false)},
          {"filters", m.value("filters", json::object())},
          {"size_cap", m.value("size_cap", json())},
          {"write_error", m.value("write_error", json())},
          {"triage_version", m.value("triage_version", "")}};
  // A slice: the sections describe it alone; start_ns/end_ns stay the recording's.
  const Slice &slice = r.slice();
  window["recording_duration_s"] = window["duration_s"];
  if (!slice.whole()) {
    auto offset_s = [&](uint64_t t) {
      uint64_t bounded = std::clamp(t, start_mono, start_mono + duration_ns);
      return static_cast<double>(bounded - start_mono) / 1e9;
    };
    double from_s = offset_s(slice.from_ns), to_s = offset_s(slice.to_ns);
    window["slice"] = {{"from_s", round_hundredth(from_s)}, {"to_s", round_hundredth(to_s)}};
    window["duration_s"] = round_hundredth(to_s - from_s);
  }
  return window;
}

json probes_of(const RecordingReader &r) {
  json out = json::array();
  for (const auto &p : r.probes()) {
    json row = {{"name", p.name},     {"family", p.family}, {"hook", p.hook},
                {"method", p.method}, {"status", p.status}, {"reason", p.reason}};
    if (p.status != "attached") row["hides"] = what_missing_probe_hides(p.name, p.family);
    out.push_back(std::move(row));
  }
  return out;
}

json lost_of(const RecordingReader &r) {
  json by_family = json::object(), families = json::object();
  uint64_t total = 0;
  json size_cap = r.meta("size_cap").value_or(json::object());
  const json &unwritten = size_cap.is_object() ? size_cap.value("events_not_written", json::object()) : json::object();
  for (const auto &entry : all_families()) {
    const char *family = entry.name;
    // A family that was recorded wrote its constants to meta once (even if nothing happened).
    if (!r.meta(fmt::format("{}.config", family))) {
      by_family[family] = nullptr;
      families[family] = nullptr;
      continue;
    }
    const LossRow loss = read_counters<LossRow>(r, family, kLossTable);
    by_family[family] = loss.lost;
    total += loss.lost;
    json dropped = json::object();
    for (const auto &row : read_table<DroppedRow>(r, family, kDroppedTable).rows) dropped[row.counter] = row.keys;
    // produced == delivered + lost: events the BPF side made, userspace took, the ring refused.
    // not_written: delivered, but left out of the recording once its size cap was reached (the
    // cap's count covers the whole recording).
    families[family] = {{"produced", loss.produced},
                        {"delivered", loss.delivered},
                        {"lost", loss.lost},
                        {"not_written", unwritten.is_object() ? unwritten.value(family, 0ULL) : 0ULL},
                        {"dropped", dropped}};
  }
  return {{"total", total}, {"by_family", by_family}, {"families", families}};
}

json overhead_of(const RecordingReader &r, double duration_s, int ncpu) {
  auto o = r.meta("overhead");
  if (!o || !o->is_object())
    return {{"bpf_run_ns", nullptr}, {"bpf_run_cnt", nullptr}, {"cpu_pct", nullptr}, {"user_cpu_pct", nullptr}};
  json out = *o;
  const double machine_s = duration_s * ncpu;  // the machine's CPU time over the window, all CPUs
  out["cpu_pct"] = nullptr;
  out["user_cpu_pct"] = nullptr;
  if (machine_s <= 0) return out;
  if (out.value("measured", false))
    out["cpu_pct"] = 100.0 * static_cast<double>(out.value("bpf_run_ns", 0ULL)) / 1e9 / machine_s;
  if (out.contains("user_cpu_ns"))
    out["user_cpu_pct"] = 100.0 * static_cast<double>(out.value("user_cpu_ns", 0ULL)) / 1e9 / machine_s;
  return out;
}

int severity_rank(const std::string &s) { return s == "critical" ? 0 : s == "warning" ? 1 : 2; }

// The checklist is read at the window's two edges: its findings belong to a slice that holds an
// edge, stamped with the edge's time (both when the slice holds both: the level held across).
void add_snapshot_findings_in_slice(const json &report, json &findings) {
  const json &w = report["window"];
  const double length = w.value("recording_duration_s", 0.0);
  const json slice = w.value("slice", json());
  const bool has_start = slice.is_null() || slice.value("from_s", 0.0) <= 0;
  const bool has_end = slice.is_null() || slice.value("to_s", 0.0) >= length - 0.005;
  if (!has_start && !has_end) return;
  json checklist = json::array();
  add_snapshot_findings(report, checklist);
  for (auto &f : checklist) {
    f["first_t"] = has_start ? 0.0 : round_hundredth(length);
    f["last_t"] = has_end ? round_hundredth(length) : 0.0;
    f["peak_t"] = f["last_t"];
    findings.push_back(std::move(f));
  }
}

}  // namespace

json build_report(const RecordingReader &r) {
  json report;
  report["schema"] = kReportSchema;
  report["window"] = window_of(r);
  report["probes"] = probes_of(r);
  report["lost_events"] = lost_of(r);
  // The tracer's cost is measured over the whole recording, whatever the slice.
  report["overhead"] = overhead_of(r, report["window"]["recording_duration_s"], report["window"]["ncpu"]);
  report["snapshot"] = {{"start", r.snapshot("start").value_or(nullptr)}, {"end", r.snapshot("end").value_or(nullptr)}};
  uint64_t start_mono = r.meta("start_ns").value_or(0).get<uint64_t>();
  // Every family has a key in the report, recorded or not (then null).
  for (const auto &family : all_families()) report[family.name] = family.build_section(r, start_mono);
  place_snapshots_in_window(
      report, start_mono, start_mono + static_cast<uint64_t>(report["window"]["recording_duration_s"].get<double>() * 1e9));
  resolve_process_names(report);

  json findings = json::array();
  for (const auto &family : all_families()) family.add_findings(report, findings);
  add_snapshot_findings_in_slice(report, findings);
  add_incident_findings(report, findings);
  std::stable_sort(findings.begin(), findings.end(), [](const json &a, const json &b) {
    return severity_rank(a.value("severity", "")) < severity_rank(b.value("severity", ""));
  });
  link_causes(findings);  // a cause first, the findings it explains under it
  for (auto &f : findings)
    if (f.contains("evidence")) round_evidence(f["evidence"]);
  report["findings"] = findings;
  return report;
}

namespace {

// What the window cannot show: missing probes, lost or dropped events. Said next to the verdict,
// because a quiet verdict over a blind spot is not a clean bill of health.
void render_gaps(const json &report, std::string &out) {
  for (const auto &p : report["probes"]) {
    if (p.value("status", "") == "attached") continue;
    out += fmt::format("  missing: {} ({}, {}: {}) — hidden: {}\n", printable(p.value("name", "")),
                       printable(p.value("family", "")), p.value("status", ""), printable(p.value("reason", "")),
                       printable(p.value("hides", "")));
  }
  const auto &families = report["lost_events"].value("families", json::object());
  for (const auto &[name, f] : families.items()) {
    if (!f.is_object()) continue;
    uint64_t dropped = 0;
    std::string drops;
    const json dropped_counters = f.value("dropped", json::object());
    for (const auto &[key, value] : dropped_counters.items()) {
      uint64_t n = value.is_number_unsigned() ? value.get<uint64_t>() : 0;
      dropped += n;
      if (n) drops += fmt::format("{}{} {}", drops.empty() ? "" : ", ", key, n);
    }
    uint64_t lost = f.value("lost", 0ULL), not_written = f.value("not_written", 0ULL);
    if (!lost && !dropped && !not_written) continue;
    out += fmt::format("  {} events: {} produced, {} delivered, {} lost (ring buffer full)", name,
                       f.value("produced", 0ULL), f["delivered"].is_number() ? f["delivered"].dump() : "?", lost);
    if (not_written) out += fmt::format(", {} not written (size cap)", not_written);
    if (dropped) out += fmt::format("; map full, not tracked: {}", drops);
    out += "\n";
  }
  const auto &write_error = report["window"].value("write_error", json());
  if (write_error.is_string())
    out += fmt::format("  the recording file could not be completed ({}): it holds the window only up to that point\n",
                       printable(write_error.get<std::string>()));
  const auto &cap = report["window"].value("size_cap", json());
  if (cap.is_object() && cap.value("reached", false))
    out += fmt::format("  the recording reached its size cap ({} bytes): timeline events after that were not written\n",
                       cap.value("max_bytes", 0ULL));
}

// When a finding held, as the verdict says it: "(held 5.0–10.0 s into the window, worst at 7.0 s)".
std::string span_text(const json &finding) {
  if (!finding.contains("first_t")) return "";
  double first = finding.value("first_t", 0.0), last = finding.value("last_t", 0.0), peak = finding.value("peak_t", 0.0);
  if (last - first < 0.05) return fmt::format(" (at {:.1f} s into the window)", first);
  return fmt::format(" (held {:.1f}–{:.1f} s into the window, worst at {:.1f} s)", first, last, peak);
}

void render_verdict(const json &report, std::string &out) {
  const auto &w = report["window"];
  std::string extent = fmt::format("window {:.1f}s", w.value("duration_s", 0.0));
  if (w.contains("slice"))
    extent = fmt::format("slice {:.1f}–{:.1f} s of a {:.1f}s window", w["slice"].value("from_s", 0.0),
                         w["slice"].value("to_s", 0.0), w.value("recording_duration_s", 0.0));
  out += fmt::format("triage report: {} (kernel {}, {} CPUs), {}{}\n", printable(w.value("host", "")),
                     printable(w.value("kernel", "")), w.value("ncpu", 0), extent,
                     w.value("cut_short", false) ? fmt::format(" — cut short: {}", w.value("end_reason", "")) : "");
  out += "\nVERDICT\n";
  const auto &findings = report["findings"];
  size_t serious = 0;
  for (const auto &f : findings) {
    std::string sev = f.value("severity", "");
    if (sev == "info" || f.contains("explained_by")) continue;
    serious++;
    out += fmt::format("  [{}] {}{}\n", sev == "critical" ? "CRITICAL" : "warning", printable(f.value("title", "")),
                       span_text(f));
    // What it explains, under it: symptoms, not separate verdicts (they follow it in the list).
    if (!f.contains("explains")) continue;
    bool after = false;
    for (const auto &symptom : findings) {
      if (&symptom == &f) after = true;
      else if (after && symptom.value("explained_by", "") == f.value("id", "") && symptom.contains("explained_by"))
        out += fmt::format("      which explains: {} ({}){}\n", printable(symptom.value("title", "")),
                           symptom.value("id", ""), span_text(symptom));
      else if (after && !symptom.contains("explained_by"))
        break;
    }
  }
  if (!serious) out += "  no warning or critical finding: nothing in this window points at CPU, I/O, memory or network trouble\n";

  size_t attached = 0, missing = 0;
  for (const auto &p : report["probes"]) (p.value("status", "") == "attached" ? attached : missing)++;
  const auto &lost = report["lost_events"];
  out += fmt::format("  probes attached: {}, not attached: {}; events lost: {}", attached, missing, lost.value("total", 0ULL));
  out += "\n";
  out += "  tracer cost: " + overhead_summary(report.contains("overhead") ? report["overhead"] : json()) + "\n";
  render_gaps(report, out);
}

void render_findings(const json &report, std::string &out) {
  heading("Findings", out);
  if (report["findings"].empty()) out += "  (none)\n";
  for (const auto &f : report["findings"]) {
    out += fmt::format("  {}[{}] {} ({}){}\n", f.contains("explained_by") ? "    explained by the finding above: " : "",
                       f.value("severity", ""), printable(f.value("title", "")), f.value("id", ""), span_text(f));
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

// In every report, so that whoever reads the postmortem knows the tracer did not cause the incident.
std::string overhead_summary(const json &o) {
  if (!o.is_object()) return "not recorded";
  std::string out;
  const json bpf_pct = o.value("cpu_pct", json());
  if (bpf_pct.is_number()) {
    const std::string method = o.value("method", "");
    out += fmt::format("BPF programs {:.3f}% of all CPU time ({})", bpf_pct.get<double>(),
                       method == "bpf_stats_sampled"
                           ? fmt::format("estimated from {:.1f} s sampled with bpf_stats", o.value("sampled_s", 0.0))
                           : "measured with bpf_stats over the whole window");
  } else {
    out += "BPF programs not measured (bpf_stats unavailable)";
  }
  const json user_pct = o.value("user_cpu_pct", json());
  if (user_pct.is_number()) out += fmt::format("; triage itself {:.3f}%", user_pct.get<double>());
  return out;
}

std::string render_text(const json &report) {
  std::string out;
  render_verdict(report, out);
  render_findings(report, out);
  for (const auto &family : all_families()) {
    if (!report[family.name].is_null()) family.render_text(report[family.name], out);
  }
  for (const auto &family : all_families()) {
    if (report[family.name].is_null()) out += fmt::format("\n== {}: not recorded\n", family.name);
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

Result<std::string> report_from_file(const std::string &path, const std::string &format, const SliceArgs &slice) {
  auto reader = RecordingReader::open(path);
  if (!reader) return reader.error();
  try {
    auto chosen = resolve_slice(slice, WindowBounds::of(**reader));
    if (!chosen) return usage_error(fmt::format("{}: {}", path, chosen.error().message));
    (*reader)->set_slice(*chosen);
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

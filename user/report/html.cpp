// render_html(): the report model as a postmortem page. Layout, top to bottom: what the incident
// was (verdict and findings), then the evidence per family (charts first, tables after; each
// family draws its own section, user/<family>/<family>_html.cpp, in the registry's order), then
// the /proc checklist, and last how far to trust it (probes, lost events, the tracer's own cost).
//
// Safety: every string that came from the traced machine goes through html_escape(); numbers are
// formatted by html_parts.h. The page also carries a Content-Security-Policy that forbids scripts,
// so a missed escape would still not run anything.
#include "report/html.h"
#include "report/report.h"

#include <fmt/format.h>

#include <algorithm>
#include <vector>

#include "families.h"
#include "report/html_parts.h"
#include "snapshot/snapshot.h"

namespace triage {

using nlohmann::json;

std::string html_escape(std::string_view raw) {
  std::string safe = terminal_safe(raw);
  std::string out;
  out.reserve(safe.size());
  for (char c : safe) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

namespace {

using namespace html;

// ---- sections -------------------------------------------------------------------------------

const char *severity_class(const std::string &s) {
  return s == "critical" ? "critical" : s == "warning" ? "warning" : "info";
}

void render_header(const json &report, std::string &out) {
  const json &w = report["window"];
  out += fmt::format(R"(<header><h1>triage postmortem: {}</h1><p class="meta">{} · window of {:.1f}s from {} · kernel {} · {} CPUs · interval {}s)",
                     html_escape(str(w, "host")), html_escape(str(w, "host")), num(w, "duration_s"),
                     fmt_utc(to_u64(num(w, "start_ns"))), html_escape(str(w, "kernel")),
                     fmt_num(num(w, "ncpu")), fmt_num(num(w, "interval_s", 1)));
  if (at(w, "cut_short").is_boolean() && w["cut_short"].get<bool>())
    out += fmt::format(R"( · <b class="warning-text">cut short: {}</b>)", html_escape(str(w, "end_reason")));
  if (at(w, "slice").is_object())
    out += fmt::format(R"( · <b>slice {:.1f}–{:.1f} s</b> of the {:.1f}s recording (times are seconds from its start))",
                       num(w["slice"], "from_s"), num(w["slice"], "to_s"), num(w, "recording_duration_s"));
  out += "</p></header>\n";
}

// When a finding held, after its title: " · 5.0–10.0 s, worst at 7.0 s".
std::string span_html(const json &f) {
  if (!f.contains("first_t")) return "";
  double first = num(f, "first_t"), last = num(f, "last_t"), peak = num(f, "peak_t");
  if (last - first < 0.05) return fmt::format(R"( <span class="when">at {:.1f} s</span>)", first);
  return fmt::format(R"( <span class="when">{:.1f}–{:.1f} s, worst at {:.1f} s</span>)", first, last, peak);
}

void render_verdict(const json &report, std::string &out) {
  out += section_open("verdict", "Verdict");
  // A finding another one explains is listed under its cause, not as a verdict of its own.
  std::vector<const json *> serious;
  for (const auto &f : arr(report, "findings"))
    if (str(f, "severity") != "info" && !f.contains("explained_by")) serious.push_back(&f);
  if (serious.empty()) {
    out += R"(<p class="verdict ok">No warning or critical finding: nothing in this window points at CPU, I/O, memory, disk or network trouble.</p>)";
  } else {
    out += R"(<ul class="verdict">)";
    const json &all = arr(report, "findings");
    for (const json *f : serious) {
      out += fmt::format(R"(<li><span class="badge {}">{}</span> {}{})", severity_class(str(*f, "severity")),
                         html_escape(str(*f, "severity")), html_escape(str(*f, "title")), span_html(*f));
      if (f->contains("explains")) {
        // Its symptoms follow it in the list (report/incidents.h).
        std::string symptoms;
        bool after = false;
        for (const auto &g : all) {
          if (&g == f) after = true;
          else if (after && g.contains("explained_by"))
            symptoms += fmt::format(R"(<li>which explains: {} <code>{}</code>{}</li>)", html_escape(str(g, "title")),
                                    html_escape(str(g, "id")), span_html(g));
          else if (after)
            break;
        }
        if (!symptoms.empty()) out += R"(<ul class="explains">)" + symptoms + "</ul>";
      }
      out += "</li>";
    }
    out += "</ul>";
  }
  size_t attached = 0, missing = 0;
  for (const auto &p : arr(report, "probes")) (str(p, "status") == "attached" ? attached : missing)++;
  const json &o = at(report, "overhead");
  out += fmt::format(R"(<p class="meta">probes attached: {}, not attached: {} · events lost: {} · tracer cost: {}</p>)",
                     attached, missing, fmt_num(num(report["lost_events"], "total")),
                     html_escape(overhead_summary(o)));
  out += "</section>\n";
}

std::string evidence_html(const json &evidence) {
  if (!evidence.is_object()) return esc(evidence);
  std::string out = R"(<dl class="evidence">)";
  for (const auto &[key, value] : evidence.items()) {
    std::string shown;
    if (value.is_array()) {
      for (const auto &item : value) {
        std::string row;
        if (item.is_object())
          for (const auto &[k, v] : item.items()) row += fmt::format("{}{}={}", row.empty() ? "" : ", ", html_escape(k), esc(v));
        else
          row = esc(item);
        shown += "<div>" + row + "</div>";
      }
    } else {
      shown = esc(value);
    }
    out += fmt::format("<dt>{}</dt><dd>{}</dd>", html_escape(key), shown);
  }
  return out + "</dl>";
}

void render_findings(const json &report, std::string &out) {
  out += section_open("findings", "Findings");
  const json &findings = arr(report, "findings");
  if (findings.empty()) out += R"(<p class="absent">none</p>)";
  for (const auto &f : findings) {
    std::string sev = str(f, "severity");
    out += fmt::format(
        R"(<div class="finding {}"><h3>{}<span class="badge {}">{}</span> {} <code>{}</code>{}</h3>{}<p class="advice"><b>What to do:</b> {}</p></div>)",
        std::string(severity_class(sev)) + (f.contains("explained_by") ? " explained" : ""),
        f.contains("explained_by") ? std::string("&#8627; explained by ") + html_escape(str(f, "explained_by")) + ": " : std::string(),
        severity_class(sev), html_escape(sev), html_escape(str(f, "title")), html_escape(str(f, "id")),
        span_html(f),
        evidence_html(at(f, "evidence")), html_escape(str(f, "advice")));
  }
  out += "</section>\n";
}

// ---- the /proc checklist ---------------------------------------------------------------------

std::string snap_cell(const json &snapshot, const char *part, const char *key, bool kb) {
  const json &v = at(at(snapshot, part), key);
  if (!v.is_number()) return "-";
  return kb ? fmt_kb(v.get<double>()) : fmt_exact(v.get<double>());
}

// /proc/net is the namespace triage ran in: its counters are that namespace's since boot.
std::string netstat_scope_html(const json &snapshot) {
  const json &netns = at(snapshot, "netstat_netns"), &pid1 = at(snapshot, "netstat_netns_is_pid1s");
  if (!netns.is_number()) return R"(<p class="note">Counters of the network namespace triage ran in, since boot.</p>)";
  return fmt::format(R"(<p class="note">Counters of network namespace {} only (the one triage ran in{}), since boot.</p>)",
                     fmt_id(netns.get<double>()),
                     !pid1.is_boolean() ? ""
                     : pid1.get<bool>() ? ", PID 1's"
                                        : "; not PID 1's: the host's counters are not these");
}

// The tcp family's per-namespace counts during the window, beside one namespace's since-boot numbers.
std::string netstat_during_window_html(const json &snapshot) {
  const json &namespaces = at(snapshot, "netstat_during_window");
  if (!namespaces.is_array()) return "";
  std::vector<std::vector<std::string>> rows;
  for (const auto &ns : namespaces) {
    std::string moved;
    if (at(ns, "counters").is_object())
      for (const auto &[name, value] : ns["counters"].items())
        if (value.is_number() && value.get<double>() > 0)
          moved += fmt::format("{}{} +{}", moved.empty() ? "" : ", ", html_escape(name), fmt_exact(value.get<double>()));
    std::string name = str(ns, "name");
    rows.push_back({fmt::format("{}{}{}", fmt_id(num(ns, "netns")), name.empty() ? "" : " (" + html_escape(name) + ")",
                                at(ns, "this_namespace") == true ? " — the one above" : ""),
                    moved});
  }
  return "<h3>TCP counters during the window, per network namespace (tcp family)</h3>" +
         (rows.empty() ? std::string(R"(<p class="absent">none moved</p>)")
                       : table({"network namespace", "counters that moved"}, rows));
}

// Kernel-log lines of the window apart from those logged before it, which are history.
std::string kmsg_html(const json &snapshot) {
  std::vector<std::vector<std::string>> inside, before;
  bool placed = false;
  for (const auto &k : arr(snapshot, "kmsg")) {
    std::vector<std::string> row = {fmt::format("{:.3f}", num(k, "time")), esc(at(k, "level")), html_escape(str(k, "text"))};
    placed |= at(k, "in_window").is_boolean();
    if (at(k, "before_window_s").is_number()) {
      row.insert(row.begin(), html_escape(elapsed_text(num(k, "before_window_s"))) + " before");
      before.push_back(std::move(row));
    } else {
      if (at(k, "after_window_s").is_number()) row[2] += " <i>(" + html_escape(elapsed_text(num(k, "after_window_s"))) + " after the window)</i>";
      inside.push_back(std::move(row));
    }
  }
  std::string out = "<h3>Kernel messages (OOM, SYN flood, hung tasks)" + std::string(placed ? " in the window" : "") + "</h3>";
  out += inside.empty() ? R"(<p class="absent">none</p>)" : table({"time (s since boot)", "level", "message"}, inside);
  if (!before.empty())
    out += fmt::format("<h3>Kernel messages from before the window ({}, not part of it)</h3>", before.size()) +
           table({"logged", "time (s since boot)", "level", "message"}, before);
  return out;
}

void render_snapshot(const json &report, std::string &out) {
  out += section_open("snapshot", "Checklist (/proc at the start and end of the window)");
  const json &start = at(report["snapshot"], "start"), &end = at(report["snapshot"], "end");
  if (!start.is_object() && !end.is_object()) {
    out += R"(<p class="absent">not recorded</p></section>)";
    return;
  }
  const json &last = end.is_object() ? end : start;

  // Scalars side by side: what changed during the window.
  std::vector<std::vector<std::string>> rows;
  auto loadavg = [](const json &s) {
    const json &l = at(s, "loadavg");
    if (!l.is_array() || l.size() < 3) return std::string("-");
    return fmt::format("{} {} {}", esc(l[0]), esc(l[1]), esc(l[2]));
  };
  rows.push_back({"load average (1, 5, 15 min)", loadavg(start), loadavg(end)});
  rows.push_back({"uptime", start.is_object() ? fmt::format("{:.0f}s", num(start, "uptime_s")) : "-",
                  end.is_object() ? fmt::format("{:.0f}s", num(end, "uptime_s")) : "-"});
  for (auto [key, label] : {std::pair{"procs_running", "runnable tasks (procs_running)"},
                            std::pair{"procs_blocked", "blocked tasks (procs_blocked)"}})
    rows.push_back({label, at(start, key).is_number() ? fmt_num(num(start, key)) : "-",
                    at(end, key).is_number() ? fmt_num(num(end, key)) : "-"});
  out += "<h3>Load</h3>" + table({"", "start", "end"}, rows, "narrow");

  rows.clear();
  for (auto [key, label] : {std::pair{"total_kb", "total"}, std::pair{"available_kb", "available"},
                            std::pair{"free_kb", "free"}, std::pair{"buffers_kb", "buffers"},
                            std::pair{"cached_kb", "cached"}, std::pair{"swap_total_kb", "swap total"},
                            std::pair{"swap_free_kb", "swap free"}})
    rows.push_back({label, snap_cell(start, "mem", key, true), snap_cell(end, "mem", key, true)});
  for (auto [key, label] : {std::pair{"swap_in_per_s", "swap in (pages/s)"}, std::pair{"swap_out_per_s", "swap out (pages/s)"}})
    rows.push_back({label, snap_cell(start, "mem", key, false), snap_cell(end, "mem", key, false)});
  out += "<h3>Memory</h3>" + table({"", "start", "end"}, rows, "narrow");

  rows.clear();
  for (const char *key : {"R", "S", "D", "Z", "T", "I", "total", "threads", "pid_max"})
    rows.push_back({key, snap_cell(start, "tasks", key, false), snap_cell(end, "tasks", key, false)});
  out += "<h3>Tasks</h3>" + table({"state", "start", "end"}, rows, "narrow");
  rows.clear();
  for (const auto &z : arr(at(last, "tasks"), "zombies"))
    rows.push_back({fmt::format("{} ({})", html_escape(str(z, "comm")), fmt_id(num(z, "pid"))),
                    fmt::format("{} ({})", html_escape(str(z, "parent_comm")), fmt_id(num(z, "ppid")))});
  if (!rows.empty()) out += "<h3>Zombies</h3>" + table({"zombie", "parent"}, rows, "narrow");

  rows.clear();
  for (const auto &c : arr(last, "cpus"))
    rows.push_back({fmt_id(num(c, "cpu")), fmt::format("{:.1f}", num(c, "user")), fmt::format("{:.1f}", num(c, "system")),
                    fmt::format("{:.1f}", num(c, "iowait")), fmt::format("{:.1f}", num(c, "steal")),
                    fmt::format("{:.1f}", num(c, "idle"))});
  if (!rows.empty()) out += "<h3>CPUs (%, end)</h3>" + table({"CPU", "user", "system", "iowait", "steal", "idle"}, rows, "narrow");

  rows.clear();
  for (const auto &f : arr(last, "filesystems")) {
    double pct = num(f, "used_pct", -1);
    rows.push_back({html_escape(str(f, "mount")), html_escape(str(f, "fstype")), html_escape(str(f, "device")),
                    fmt_kb(num(f, "size_kb")), fmt_kb(num(f, "avail_kb")),
                    pct < 0 ? "-"
                            : fmt::format(R"(<span class="meter{}"><span style="width:{:.0f}%"></span></span> {:.1f}%)",
                                          pct >= 90 ? " hot" : "", std::clamp(pct, 0.0, 100.0), pct),
                    at(f, "inodes_used_pct").is_number() ? fmt::format("{:.1f}%", num(f, "inodes_used_pct")) : "-"});
  }
  if (!rows.empty())
    out += "<h3>Filesystems (end)</h3>" + table({"mount", "type", "device", "size", "available", "used", "inodes used"}, rows);

  rows.clear();
  for (const auto &f : arr(last, "deleted_open_files")) {
    if (rows.size() == 20) break;
    rows.push_back({html_escape(str(f, "path")), at(f, "size_kb").is_number() ? fmt_kb(num(f, "size_kb")) : "-",
                    fmt::format("{} ({})", html_escape(str(f, "comm")), fmt_id(num(f, "pid")))});
  }
  if (!rows.empty()) out += "<h3>Deleted files still open (end)</h3>" + table({"path", "size", "held by"}, rows);

  const json &sockets = at(last, "sockets");
  rows.clear();
  if (at(sockets, "states").is_object())
    for (const auto &[state, count] : sockets["states"].items())
      if (!count.is_number() || count.get<double>() != 0) rows.push_back({html_escape(state), esc(count)});
  if (!rows.empty()) out += "<h3>TCP sockets by state (end)</h3>" + table({"state", "sockets"}, rows, "narrow");
  rows.clear();
  for (const auto &l : arr(sockets, "listeners"))
    rows.push_back({fmt::format("{}:{}", esc(at(l, "addr")), fmt_id(num(l, "port"))), esc(at(l, "backlog")),
                    esc(at(l, "backlog_max"))});
  if (!rows.empty()) out += "<h3>Listening sockets (end)</h3>" + table({"address", "backlog", "max"}, rows, "narrow");

  // Counters that moved during the window first: those are what happened in it.
  const json &ns_start = at(start, "netstat"), &ns_end = at(end, "netstat");
  const json &ns_last = ns_end.is_object() ? ns_end : ns_start;
  if (ns_last.is_object()) {
    std::vector<std::vector<std::string>> moved, steady;
    for (const auto &[name, value] : ns_last.items()) {
      if (!value.is_number() || value.get<double>() == 0) continue;
      double before = num(ns_start, name.c_str(), value.get<double>());
      double delta = ns_end.is_object() ? value.get<double>() - before : 0;
      // Tcp MaxConn is -1 where the number of connections has no fixed limit (RFC 2012), not a count.
      std::string shown = name == "TcpMaxConn" && value.get<double>() < 0 ? "no limit" : fmt_num(value.get<double>());
      (delta != 0 ? moved : steady).push_back({html_escape(name), shown,
                                               delta != 0 ? fmt::format("<b>{}{}</b>", delta > 0 ? "+" : "", fmt_num(delta)) : "0"});
    }
    out += "<h3>Network counters (netstat; non-zero, changed during the window first)</h3>";
    out += netstat_scope_html(last);
    moved.insert(moved.end(), steady.begin(), steady.end());
    out += moved.empty() ? R"(<p class="absent">all zero</p>)"
                         : "<details><summary>" + fmt::format("{} counters", moved.size()) + "</summary>" +
                               table({"counter", "value at end", "during the window"}, moved, "narrow") + "</details>";
  }
  out += netstat_during_window_html(last);
  out += kmsg_html(last);

  rows.clear();
  for (const json *s : {&start, &end})
    for (const auto &k : arr(*s, "skipped"))
      rows.push_back({s == &start ? "start" : "end", html_escape(str(k, "part")), html_escape(str(k, "reason"))});
  if (!rows.empty()) out += "<h3>Not read</h3>" + table({"snapshot", "part", "why"}, rows);
  out += "</section>\n";
}

// ---- how far to trust the report -------------------------------------------------------------

void render_probes(const json &report, std::string &out) {
  out += section_open("probes", "Probes");
  std::vector<std::vector<std::string>> rows;
  for (const auto &p : arr(report, "probes")) {
    std::string status = str(p, "status");
    const char *cls = status == "attached" ? "ok" : status == "failed" ? "critical" : "info";
    rows.push_back({html_escape(str(p, "name")), html_escape(str(p, "family")), html_escape(str(p, "hook")),
                    html_escape(str(p, "method")), fmt::format(R"(<span class="badge {}">{}</span>)", cls, html_escape(status)),
                    html_escape(str(p, "reason"))});
  }
  out += rows.empty() ? R"(<p class="absent">none</p>)" : table({"probe", "family", "hook", "method", "status", "reason"}, rows);
  out += "</section>\n";

  out += section_open("trust", "Lost events and overhead");
  const json &lost = report["lost_events"];
  rows.clear();
  rows.push_back({"total", fmt_num(num(lost, "total"))});
  if (at(lost, "by_family").is_object())
    for (const auto &[family, count] : lost["by_family"].items())
      rows.push_back({html_escape(family), count.is_null() ? "not recorded" : esc(count)});
  out += "<h3>Lost events</h3>" + table({"family", "events lost"}, rows, "narrow");
  const json &o = at(report, "overhead");
  rows.clear();
  rows.push_back({"tracer cost", html_escape(overhead_summary(o))});
  rows.push_back({"BPF run time", at(o, "bpf_run_ns").is_number() ? fmt_latency(num(o, "bpf_run_ns") / 1000, "us") : "-"});
  rows.push_back({"BPF program runs", at(o, "bpf_run_cnt").is_number() ? fmt_num(num(o, "bpf_run_cnt")) : "-"});
  out += "<h3>Overhead</h3>" + table({"", ""}, rows, "narrow");
  out += "</section>\n";
}

// Plain, printable, and readable in light or dark mode. No external fonts.
constexpr const char *kStyle = R"css(
:root{--fg:#1d2330;--muted:#5b6475;--bg:#fff;--panel:#f5f7fa;--line:#d6dbe3;--running:#4c78a8;--runnable:#f58518;
--blocked:#e45756;--crit:#b3261e;--warn:#b86e00;--info:#3b6ea8;--ok:#2e7d32}
*{box-sizing:border-box}
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;color:var(--fg);
background:var(--bg);margin:0 auto;max-width:1080px;padding:16px 24px 48px}
h1{font-size:22px;margin:8px 0 2px}h2{font-size:18px;border-bottom:2px solid var(--line);padding-bottom:4px;margin-top:32px}
h3{font-size:15px;margin:18px 0 6px}
code{font:12px ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;color:var(--muted)}
.meta,.note,.stats{color:var(--muted);margin:2px 0}
nav{margin:10px 0;font-size:13px}nav a{margin-right:12px;color:var(--info)}
table{border-collapse:collapse;width:100%;margin:6px 0 10px;font-size:13px}
table.narrow{width:auto;min-width:320px}
th,td{border-bottom:1px solid var(--line);padding:3px 8px;text-align:left;vertical-align:top;overflow-wrap:anywhere}
th{background:var(--panel);font-weight:600}
.badge{display:inline-block;border-radius:3px;padding:0 6px;font-size:12px;font-weight:600;color:#fff;background:var(--info)}
.badge.critical{background:var(--crit)}.badge.warning{background:var(--warn)}.badge.ok{background:var(--ok)}
.warning-text{color:var(--warn)}
ul.verdict{list-style:none;padding:0;font-size:15px}ul.verdict li{margin:4px 0}
.verdict.ok{color:var(--ok);font-weight:600}
.finding{border-left:4px solid var(--info);background:var(--panel);padding:6px 12px;margin:8px 0}
.finding.explained{margin-left:28px}
ul.explains{margin:2px 0 4px 0}
.finding.critical{border-color:var(--crit)}.finding.warning{border-color:var(--warn)}
.finding h3{margin:4px 0}
dl.evidence{display:grid;grid-template-columns:max-content 1fr;gap:0 12px;margin:4px 0;font-size:13px}
dl.evidence dt{color:var(--muted)}dl.evidence dd{margin:0;overflow-wrap:anywhere}
.advice{margin:4px 0}
.absent{color:var(--muted);font-style:italic}
.pair{display:flex;gap:16px;flex-wrap:wrap}.pair>div{flex:1;min-width:420px}
svg.chart{display:block;max-width:100%;height:auto;background:#fff}
svg .grid{stroke:#e8ebf0}svg .axis{stroke:#7a8394}
svg text{font:11px system-ui,sans-serif;fill:#3a4150}svg .axis-label{fill:#5b6475}
svg .area{stroke:none;opacity:.85}svg .running{fill:var(--running)}svg .runnable{fill:var(--runnable)}svg .blocked{fill:var(--blocked)}
svg .band.critical{fill:rgba(200,30,30,.12)}svg .band.warning{fill:rgba(220,150,0,.14)}.when{font-weight:400;color:#666;font-size:.85em}
svg .hover{fill:transparent}svg .hover:hover{fill:rgba(0,0,0,.06)}
svg .ncpu{stroke:#111;stroke-width:1.5;stroke-dasharray:6 4}svg .ncpu-text{font-weight:600}
svg .oom-line{stroke:var(--crit);stroke-width:1.5}svg .oom-mark{fill:var(--crit)}svg .oom-text{fill:var(--crit);font-weight:600}
svg .bar.runq,svg .bar.read{fill:var(--running)}svg .bar.dstate,svg .bar.write{fill:var(--blocked)}
svg .bar.io{fill:var(--blocked)}svg .bar.mem{fill:var(--runnable)}svg .bar.other{fill:var(--running)}
svg .cell{stroke:#fff;stroke-width:.3}
svg .line{stroke-width:2}svg .s1{stroke:#e45756}svg .s2{stroke:#f58518}svg .s3{stroke:#4c78a8}svg .s4{stroke:#54a24b}svg .s5{stroke:#b279a2}
.legend{font-size:12px;color:var(--muted);margin:2px 0 8px}.legend span{margin-right:14px}
.sw{display:inline-block;width:12px;height:12px;vertical-align:-2px;margin-right:4px;border:1px solid rgba(0,0,0,.15)}
.sw.running{background:var(--running)}.sw.runnable{background:var(--runnable)}.sw.blocked{background:var(--blocked)}
.sw.read{background:var(--running)}.sw.write{background:var(--blocked)}
.sw.ncpu-sw{background:#111;height:3px;vertical-align:3px}.sw.oom-sw{background:var(--crit);width:3px}.sw.band-sw{background:rgba(220,150,0,.3)}
.sw.s1{background:#e45756}.sw.s2{background:#f58518}.sw.s3{background:#4c78a8}.sw.s4{background:#54a24b}.sw.s5{background:#b279a2}
.meter{display:inline-block;width:80px;height:8px;background:#e8ebf0;vertical-align:middle}
.meter>span{display:block;height:100%;background:var(--running)}.meter.hot>span{background:var(--crit)}
footer{margin-top:40px;color:var(--muted);font-size:12px}
@media print{body{max-width:none}nav{display:none}section{break-inside:avoid-page}}
)css";

}  // namespace

std::string render_html(const json &report_in) {
  // A report from an older or partial build may miss keys: read through a copy with every
  // top-level key present so each section only deals with null.
  json report = report_in.is_object() ? report_in : json::object();
  for (const char *key : {"window", "probes", "lost_events", "overhead", "snapshot", "findings"})
    if (!report.contains(key)) report[key] = nullptr;
  for (const auto &family : all_families())
    if (!report.contains(family.name)) report[family.name] = nullptr;

  const json &w = report["window"];
  std::string out;
  out.reserve(256 * 1024);
  out += "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">";
  // No script, no fetch: only inline styles and data: images may load, whatever the page holds.
  out += R"(<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">)";
  out += R"(<meta name="viewport" content="width=device-width, initial-scale=1">)";
  out += fmt::format("<title>triage postmortem: {} {}</title>", html_escape(str(w, "host")),
                     fmt_utc(to_u64(num(w, "start_ns"))));
  out += "<style>" + std::string(kStyle) + "</style></head>\n<body>\n";
  render_header(report, out);
  out += R"(<nav><a href="#verdict">Verdict</a><a href="#findings">Findings</a>)";
  for (const auto &family : all_families()) out += fmt::format(R"(<a href="#{}">{}</a>)", family.name, family.html_nav_label);
  out += R"(<a href="#snapshot">Checklist</a><a href="#probes">Probes</a><a href="#trust">Lost events &amp; overhead</a></nav>)";
  out += "\n";
  render_verdict(report, out);
  render_findings(report, out);
  for (const auto &family : all_families()) family.render_html(report, out);
  render_snapshot(report, out);
  render_probes(report, out);
  out += fmt::format("<footer>{} · triage {} · schema {}</footer>\n</body></html>\n",
                     html_escape(str(w, "host")), html_escape(str(w, "triage_version")), html_escape(str(report, "schema")));
  return out;
}

}  // namespace triage

// render_html(): the report model as a postmortem page. Layout, top to bottom: what the incident
// was (verdict and findings), then the evidence per family (charts first, tables after), then the
// /proc checklist, and last how far to trust it (probes, lost events, the tracer's own cost).
//
// Safety: every string that came from the traced machine goes through html_escape(); numbers are
// formatted by html_parts.h. The page also carries a Content-Security-Policy that forbids scripts,
// so a missed escape would still not run anything.
#include "report/html.h"
#include "report/report.h"

#include <fmt/format.h>

#include <algorithm>
#include <vector>

#include "block/block_report.h"
#include "report/html_parts.h"
#include "report/outliers.h"
#include "report/process_names.h"
#include "report/text_util.h"
#include "snapshot/snapshot.h"
#include "tcp/tcp_report.h"

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
  std::vector<const json *> serious;
  for (const auto &f : arr(report, "findings"))
    if (str(f, "severity") != "info") serious.push_back(&f);
  if (serious.empty()) {
    out += R"(<p class="verdict ok">No warning or critical finding: nothing in this window points at CPU, I/O, memory, disk or network trouble.</p>)";
  } else {
    out += R"(<ul class="verdict">)";
    for (const json *f : serious)
      out += fmt::format(R"(<li><span class="badge {}">{}</span> {}{}</li>)", severity_class(str(*f, "severity")),
                         html_escape(str(*f, "severity")), html_escape(str(*f, "title")), span_html(*f));
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
        R"(<div class="finding {}"><h3><span class="badge {}">{}</span> {} <code>{}</code>{}</h3>{}<p class="advice"><b>What to do:</b> {}</p></div>)",
        severity_class(sev), severity_class(sev), html_escape(sev), html_escape(str(f, "title")), html_escape(str(f, "id")),
        span_html(f),
        evidence_html(at(f, "evidence")), html_escape(str(f, "advice")));
  }
  out += "</section>\n";
}

struct Marker {
  double t;
  std::string label;  // escaped
};

void draw_markers(Chart &chart, const Scale &x, const std::vector<Marker> &markers) {
  for (const auto &m : markers) {
    double px = x(m.t);
    chart.line(px, chart.plot_top(), px, chart.plot_bottom(), R"(class="oom-line")");
    chart.path(fmt::format("M{:.1f},{:.1f} l-5,-8 h10 z", px, chart.plot_top() + 8), R"(class="oom-mark")", m.label);
    chart.text(px + 4, chart.plot_top() + 20, m.label, R"(class="oom-text")");
  }
}

// When a finding held (first_t..last_t): a shaded band behind the load, so the chart shows at a
// glance which part of the window each finding comes from.
struct Band {
  double first_t, last_t;
  std::string cls;    // critical or warning
  std::string label;  // escaped
};

std::vector<Band> finding_bands(const json &report) {
  std::vector<Band> bands;
  for (const auto &f : arr(report, "findings")) {
    std::string sev = str(f, "severity");
    if (sev == "info" || !f.contains("first_t")) continue;
    bands.push_back({num(f, "first_t"), num(f, "last_t"), sev, html_escape(str(f, "title"))});
  }
  return bands;
}

// Running, runnable and blocked tasks stacked as step areas (each row is an interval's average),
// the CPU count as a dashed line, OOM kills as red markers, findings' spans as bands. The x axis
// runs from t0 (the slice's start, seconds from the window's start) over `duration`.
std::string load_chart(const json &load, double ncpu, double t0, double duration, const std::vector<Marker> &markers,
                       const std::vector<Band> &bands, double interval) {
  struct Layer {
    const char *key, *cls;
  };
  const Layer layers[] = {{"running", "running"}, {"runnable", "runnable"}, {"blocked", "blocked"}};
  double peak = ncpu;
  for (const auto &row : load) peak = std::max(peak, num(row, "running") + num(row, "runnable") + num(row, "blocked"));
  double t1 = t0 + duration;
  for (const auto &row : load) t1 = std::max(t1, num(row, "t"));
  Chart chart("chart-load", kChartWidth, 280, "tasks running, runnable and blocked over time");
  Scale x = chart.x_scale(t0, std::max(t1, t0 + 1e-3));
  double ymax = nice_max(peak * 1.1);
  Scale y = chart.y_scale(0, ymax);
  chart.y_axis(y, ymax, "tasks");
  for (const auto &b : bands) {
    // A finding of one moment still gets a visible band: one interval wide, ending at it.
    double from = std::clamp(std::min(b.first_t, b.last_t - interval), t0, t1), to = std::clamp(b.last_t, t0, t1);
    chart.rect(x(from), chart.plot_top(), std::max(2.0, x(to) - x(from)), chart.plot_bottom() - chart.plot_top(),
               fmt::format(R"(class="band {}")", b.cls), b.label);
  }
  std::vector<double> base(load.size(), 0.0);
  for (const auto &layer : layers) {
    std::string top, bottom;
    for (size_t i = 0; i < load.size(); i++) {
      double t = num(load[i], "t"), dt = num(load[i], "dt_s", interval);
      double x0 = x(std::max(t0, t - dt)), x1 = x(t);
      double v = base[i] + num(load[i], layer.key);
      top += fmt::format("{}{:.1f},{:.1f} L{:.1f},{:.1f} ", i == 0 ? "M" : "L", x0, y(v), x1, y(v));
      bottom = fmt::format("L{:.1f},{:.1f} L{:.1f},{:.1f} ", x1, y(base[i]), x0, y(base[i])) + bottom;
      base[i] = v;
    }
    if (!top.empty())
      chart.path(top + bottom + "Z", fmt::format(R"(class="area {}")", layer.cls), fmt::format("{} tasks", layer.key));
  }
  // Per-interval hover values without JavaScript: an invisible column with a <title>.
  for (const auto &row : load) {
    double t = num(row, "t"), dt = num(row, "dt_s", interval);
    chart.rect(x(std::max(t0, t - dt)), chart.plot_top(), x(t) - x(std::max(t0, t - dt)),
               chart.plot_bottom() - chart.plot_top(), R"(class="hover")",
               fmt::format("t={:.1f}s running {:.2f}, runnable {:.2f}, blocked {:.2f}", t, num(row, "running"),
                           num(row, "runnable"), num(row, "blocked")));
  }
  if (ncpu > 0) {
    chart.line(chart.plot_left(), y(ncpu), chart.plot_right(), y(ncpu), R"(class="ncpu")");
    chart.text(chart.plot_right() - 4, y(ncpu) - 4, fmt::format("{:.0f} CPUs", ncpu),
               R"(class="ncpu-text" text-anchor="end")");
  }
  draw_markers(chart, x, markers);
  chart.x_time_axis(x, t0, t1);
  return chart.finish() +
         legend({{"running", "running (on a CPU)"}, {"runnable", "runnable (waiting for a CPU)"},
                 {"blocked", "blocked (D state)"}, {"ncpu-sw", "CPU count"}, {"oom-sw", "OOM kill"},
                 {"band-sw", "when a finding held"}});
}

// A timeline with only the OOM markers, when there is no load series to put them on.
std::string marker_timeline(double duration, const std::vector<Marker> &markers) {
  Chart chart("chart-oom-timeline", kChartWidth, 110, "OOM kills over time");
  Scale x = chart.x_scale(0, std::max(duration, 1e-3));
  draw_markers(chart, x, markers);
  chart.x_time_axis(x, 0, duration);
  return chart.finish();
}

std::vector<Marker> oom_markers(const json &report) {
  std::vector<Marker> markers;
  for (const auto &k : arr(at(report, "oom"), "kills"))
    markers.push_back({num(k, "t"), fmt::format("OOM: {} ({})", html_escape(str(k, "victim_comm")),
                                                 fmt_id(num(k, "victim_pid")))});
  return markers;
}

// A sched top list under its heading, which says how many of how many processes it shows.
std::string top_table(const json &s, const char *list, const char *title) {
  const json &rows = at(s, list);
  if (!rows.is_array() || rows.empty()) return fmt::format(R"(<h3>{}</h3><p class="absent">none</p>)", title);
  std::vector<std::vector<std::string>> cells;
  for (const auto &p : rows) {
    if (cells.size() == 10) break;
    cells.push_back({fmt_id(num(p, "pid")), html_escape(process_label(p)), fmt_latency(num(p, "total_ns") / 1000, "us"),
                     fmt_num(num(p, "count")), fmt_latency(num(p, "max_ns") / 1000, "us"), html_escape(str(p, "cgroup"))});
  }
  const double total = std::max(num(s, (std::string(list) + "_total").c_str()), static_cast<double>(rows.size()));
  return fmt::format("<h3>{} ({})</h3>", title,
                     html_escape(list_extent(cells.size(), static_cast<size_t>(total), "total wait"))) +
         table({"PID", "command", "total", "count", "longest", "cgroup"}, cells);
}

void render_sched(const json &report, std::string &out) {
  out += section_open("sched", "Scheduler: waiting for a CPU (R) or stuck in D?");
  const json &s = report["sched"];
  const json &w = report["window"];
  double duration = num(w, "duration_s"), interval = num(w, "interval_s", 1);
  auto markers = oom_markers(report);
  if (s.is_null()) {
    out += not_recorded("sched");
    if (!markers.empty()) out += "<h3>OOM kills on the timeline</h3>" + marker_timeline(duration, markers);
    out += "</section>\n";
    return;
  }
  const json &avg = at(s, "load_avg");
  out += fmt::format(
      R"(<p>Over the window, on average: <b>{:.2f}</b> running, <b>{:.2f}</b> runnable (waiting for a CPU), <b>{:.2f}</b> blocked in D, on {} CPUs. Lost events: {}.</p>)",
      num(avg, "running"), num(avg, "runnable"), num(avg, "blocked"), fmt_num(num(w, "ncpu")),
      fmt_num(num(s, "lost_events")));
  out += "<h3>Load over time</h3>";
  if (arr(s, "load").empty()) {
    out += R"(<p class="absent">no samples (the window was shorter than one interval)</p>)";
    if (!markers.empty()) out += marker_timeline(duration, markers);
  } else {
    out += load_chart(s["load"], num(w, "ncpu"), num(at(w, "slice"), "from_s"), duration, markers,
                      finding_bands(report), interval);
  }
  out += R"(<div class="pair"><div><h3>Run-queue latency</h3><p class="note">wakeup or preemption to running</p>)" +
         histogram_chart("chart-runq-latency", "run-queue latency histogram", {{"runq", &at(s, "runq_latency")}}, 500) +
         hist_summary(at(s, "runq_latency")) +
         R"(</div><div><h3>D-state time</h3><p class="note">uninterruptible sleep that counts toward the load</p>)" +
         histogram_chart("chart-dstate", "D-state time histogram", {{"dstate", &at(s, "dstate_time")}}, 500) +
         hist_summary(at(s, "dstate_time")) + "</div></div>";
  out += "<h3>Run-queue latency over time</h3>" + heatmap_chart("chart-runq-heatmap", "run-queue latency heatmap", arr(s, "runq_heatmap"), duration,
                                                        interval);

  std::vector<std::vector<std::string>> cpus;
  for (const auto &c : arr(s, "cpus"))
    cpus.push_back({fmt_id(num(c, "cpu")),
                    fmt::format(R"(<span class="meter"><span style="width:{:.0f}%"></span></span> {:.1f}%)",
                                std::clamp(num(c, "busy_pct"), 0.0, 100.0), num(c, "busy_pct")),
                    fmt::format("{:.2f}", num(c, "runnable")), fmt::format("{:.2f}", num(c, "blocked"))});
  if (!cpus.empty())
    out += "<h3>Per CPU (window average)</h3>" + table({"CPU", "busy", "runnable", "blocked"}, cpus, "narrow");
  {
    std::vector<std::vector<std::string>> rows;
    for (const auto &p : arr(s, "top_cpu")) {
      if (rows.size() == 10) break;
      std::string name = esc(p.value("comm", ""));
      if (p.contains("prev_comm")) name += " (was " + esc(p.value("prev_comm", "")) + ")";
      std::string threads;
      for (const auto &t : p.value("threads", json::array()))
        threads += fmt::format("{}{} {} {:.2f}s", threads.empty() ? "" : "; ", fmt_id(num(t, "tid")),
                               esc(t.value("comm", "")), num(t, "cpu_ns") / 1e9);
      rows.push_back({fmt_id(num(p, "pid")), name, fmt::format("{:.2f}s", num(p, "cpu_ns") / 1e9),
                      fmt::format("{:.1f}", num(p, "cpu_pct")), esc(p.value("policy", "?")),
                      p.contains("nice") ? fmt_id(num(p, "nice")) : "?", esc(p.value("cpus_allowed", "?")), threads});
    }
    size_t total = static_cast<size_t>(num(s, "top_cpu_total"));
    out += fmt::format("<h3>Top processes by CPU time (top {} of {}; 100% = one CPU for the window)</h3>", rows.size(),
                       std::max(total, rows.size())) +
           table({"PID", "COMM", "CPU", "CPU%", "policy", "nice", "CPUs", "busiest threads"}, rows);
  }
  out += top_table(s, "top_runq", "Top processes by run-queue wait");
  out += top_table(s, "top_dstate", "Top processes by D-state time");

  const json &outliers = arr(s, "outliers");
  if (!outliers.empty()) {
    // The longest waits, in time order: the heading says how many of how many.
    std::vector<std::vector<std::string>> rows;
    const json longest = keep_worst(outliers, 20, "duration_ns");
    for (const json &e : longest) {
      rows.push_back({fmt::format("{:.2f}s", num(e, "t")), fmt_id(num(e, "cpu")), html_escape(str(e, "kind")),
                      fmt_latency(num(e, "duration_ns") / 1000, "us"),
                      fmt::format("{} ({})", html_escape(process_label(e)), fmt_id(num(e, "pid"))),
                      num(e, "waker_pid")
                          ? fmt::format("{} ({})", html_escape(process_label(e, "waker_")), fmt_id(num(e, "waker_pid")))
                          : "-"});
    }
    out += fmt::format("<h3>Longest single waits</h3><p class=\"note\">{}</p>",
                       html_escape(outlier_heading("waits above", s, longest.size())));
    out += table({"time", "CPU", "kind", "wait", "task", "woken by"}, rows);
  }
  out += "</section>\n";
}

std::string device_label(const json &d) {
  std::string name = str(d, "name");
  return html_escape(name.empty() ? str(d, "dev") : fmt::format("{} ({})", name, str(d, "dev")));
}

void render_block(const json &report, std::string &out) {
  out += section_open("block", "Block devices: latency per device");
  const json &b = report["block"];
  if (b.is_null()) {
    out += not_recorded("block") + "</section>\n";
    return;
  }
  out += fmt::format("<p>Lost events: {}.</p>", fmt_num(num(b, "lost_events")));
  const json &devices = arr(b, "devices");
  if (devices.empty()) out += R"(<p class="absent">no I/O completed in the window</p>)";
  std::vector<std::vector<std::string>> rows;
  size_t index = 0;
  for (const auto &d : devices) {
    const json &ops = at(d, "ops");
    for (const char *op : {"read", "write", "flush", "discard"}) {
      const json &o = at(ops, op);
      if (num(o, "count") == 0) continue;
      const json &lat = at(o, "latency");
      rows.push_back({device_label(d), op, fmt_num(num(o, "count")), fmt_bytes(num(o, "bytes")),
                      fmt_latency(num(lat, "p50"), "us"), fmt_latency(num(lat, "p99"), "us"),
                      fmt_latency(num(lat, "max"), "us"),
                      // No queue time was measured for requests that skipped the scheduler: not 0 µs.
                      num(at(o, "queue_latency"), "count") > 0 ? fmt_latency(num(at(o, "queue_latency"), "p99"), "us") : "-"});
    }
    const json &read = at(at(ops, "read"), "latency"), &write = at(at(ops, "write"), "latency");
    if (num(read, "count") + num(write, "count") > 0) {
      out += fmt::format("<h3>{}: read and write latency</h3>", device_label(d));
      out += histogram_chart(fmt::format("chart-block-{}", index), "block latency histogram",
                             {{"read", &read}, {"write", &write}}) +
             legend({{"read", "read"}, {"write", "write"}});
    }
    index++;
  }
  if (!rows.empty())
    out += "<h3>Per device and operation</h3>" +
           table({"device", "op", "count", "bytes", "p50", "p99", "max", "queue p99"}, rows);
  out += "<h3>How the requests were counted</h3><ul>";
  for (const auto &line : block::request_accounting(b)) out += "<li>" + html_escape(line) + "</li>";
  out += "</ul></section>\n";
}

void render_tcp(const json &report, std::string &out) {
  out += section_open("tcp", "TCP: connections, retransmits and listen queues");
  const json &t = report["tcp"];
  if (t.is_null()) {
    out += not_recorded("tcp") + "</section>\n";
    return;
  }
  const json &w = report["window"];
  double duration = num(w, "duration_s"), interval = num(w, "interval_s", 1);
  out += fmt::format("<p>Lost events: {}.</p>", fmt_num(num(t, "lost_events")));
  if (double resets = num(t, "counter_resets"))
    out += fmt::format("<p>Kernel counters seen lower than at the read before: {} (those intervals count 0).</p>",
                       fmt_num(resets));
  if (!arr(t, "rate_series").empty()) {
    out += "<h3>Retransmits, resets and state changes over time</h3>";
    out += line_chart("chart-tcp-rates", "TCP retransmits and state changes per second", "per second", t["rate_series"],
                      {{"retrans_segs", "retransmitted segments/s", "s1", true},
                       {"syn_retrans", "SYN retransmits/s", "s2", true},
                       {"transitions", "state changes/s", "s3", true},
                       {"resets_sent", "resets sent/s", "s4", true},
                       {"resets_received", "resets received/s", "s5", true}},
                      duration, interval);
  }
  if (!arr(t, "socket_series").empty()) {
    out += "<h3>Sockets over time</h3>";
    out += line_chart("chart-tcp-sockets", "TCP sockets by state over time", "sockets", t["socket_series"],
                      {{"time_wait", "TIME_WAIT", "s1", false},
                       {"close_wait", "CLOSE_WAIT", "s2", false},
                       {"syn_recv", "SYN_RECV", "s3", false},
                       {"accept_backlog", "accept backlog", "s4", false}},
                      duration, interval);
  }
  const json &rt = at(t, "retransmits");
  if (rt.is_object())
    out += fmt::format("<p>Retransmitted segments: <b>{}</b> ({} SYN/SYN-ACK).</p>", fmt_num(num(rt, "count")),
                       fmt_num(num(rt, "syn_count")));
  // A cut list says so, with the total beside it (tcp::top_caption, as the text report).
  auto caption = [](const std::string &text) { return text.empty() ? "" : " (" + html_escape(text) + ")"; };
  std::vector<std::vector<std::string>> rows;
  for (const auto &f : arr(rt, "flows")) {
    if (rows.size() == 15) break;
    rows.push_back({fmt::format("{}:{}", esc(at(f, "saddr")), fmt_id(num(f, "sport"))),
                    fmt::format("{}:{}", esc(at(f, "daddr")), fmt_id(num(f, "dport"))), fmt_num(num(f, "count")),
                    esc(at(f, "state")), fmt_num(num(f, "max_backoff"))});
  }
  if (!rows.empty())
    out += "<h3>Retransmitting flows" +
           caption(tcp::top_caption(rows.size(), to_u64(num(rt, "flows_total", arr(rt, "flows").size())), "segments")) +
           "</h3>" + table({"local", "remote", "segments", "state", "max backoff"}, rows);
  rows.clear();
  for (const auto &tr : arr(t, "transitions"))
    rows.push_back({esc(at(tr, "from")), esc(at(tr, "to")), fmt_num(num(tr, "count"))});
  if (!rows.empty()) out += "<h3>State transitions</h3>" + table({"from", "to", "count"}, rows, "narrow");
  rows.clear();
  for (const auto &l : arr(t, "listeners"))
    rows.push_back({fmt::format("{}:{}", esc(at(l, "addr")), fmt_id(num(l, "port"))),
                    num(l, "pid") ? fmt::format("{} ({})", html_escape(str(l, "comm")), fmt_id(num(l, "pid"))) : "-",
                    esc(at(l, "backlog")),
                    esc(at(l, "backlog_max")), esc(at(l, "overflows")), esc(at(l, "syn_drops")), esc(at(l, "syncookies"))});
  if (!rows.empty())
    out += "<h3>Listeners</h3>" +
           table({"address", "process", "backlog", "max", "overflows", "SYN drops", "syncookies"}, rows);
  rows.clear();
  for (const auto &c : arr(t, "close_wait")) {
    if (rows.size() == 20) break;
    rows.push_back({fmt::format("{} ({})", html_escape(str(c, "comm")), fmt_id(num(c, "pid"))),
                    fmt::format("{}:{}", esc(at(c, "laddr")), fmt_id(num(c, "lport"))),
                    fmt::format("{}:{}", esc(at(c, "raddr")), fmt_id(num(c, "rport"))),
                    fmt_latency(num(c, "age_ms"), "ms")});
  }
  if (!rows.empty())
    out += "<h3>Sockets in CLOSE_WAIT at the end" +
           caption(tcp::top_caption(rows.size(), to_u64(num(t, "close_wait_total", arr(t, "close_wait").size())), "age")) +
           "</h3>" + table({"process", "local", "remote", "age"}, rows);
  // The leaks over the slice: owners whose sockets stayed in CLOSE_WAIT, even if gone by the end.
  rows.clear();
  for (const auto &leak : arr(t, "close_wait_leaks")) {
    std::string ports;
    for (const auto &p : arr(leak, "ports")) ports += (ports.empty() ? "" : ", ") + fmt_id(p.is_number() ? p.get<double>() : 0);
    rows.push_back({fmt::format("{:.1f}-{:.1f} s", num(leak, "first_t"), num(leak, "last_t")),
                    fmt::format("{} ({})", html_escape(str(leak, "comm")), fmt_id(num(leak, "pid"))),
                    fmt_num(num(leak, "count")), html_escape(ports), fmt_latency(num(leak, "oldest_ms"), "ms"),
                    fmt_num(num(leak, "still_open"))});
  }
  if (!rows.empty())
    out += "<h3>CLOSE_WAIT stuck during the window (3 walks in a row and 2 s or more), per owner</h3>" +
           table({"when", "process", "sockets", "local ports", "oldest", "open at the end"}, rows);
  // Reset incidents: the first by time, the largest always among them, as the text report.
  auto incidents = [&](const char *list, const char *size_key, const char *size_name, const char *peer_key,
                       const std::string &title, const std::vector<std::string> &header) {
    const json &events = arr(t, list);
    auto shown = tcp::first_rows_with_largest(events, 20, size_key, size_name);
    std::vector<std::vector<std::string>> cells;
    for (size_t i : shown.index) {
      const json &r = events[i];
      cells.push_back({fmt::format("{:.2f}s", num(r, "t")),
                       fmt::format("{}:{}", esc(at(r, "saddr")), fmt_id(num(r, "sport"))),
                       fmt::format("{}:{}", esc(at(r, "daddr")), fmt_id(num(r, "dport"))),
                       fmt_latency(num(r, size_key), "ms"), fmt_latency(num(r, peer_key), "ms"),
                       fmt::format("{} ({})", html_escape(str(r, "comm")), fmt_id(num(r, "pid")))});
    }
    if (!cells.empty()) out += "<h3>" + title + caption(shown.caption) + "</h3>" + table(header, cells);
  };
  incidents("read_timeouts", "timeout_ms", "longest timeout", "late_by_ms",
            "Read timeouts (request unanswered, FIN, then the late answer reset)",
            {"time", "local", "remote", "gave up after", "answer later by", "process"});
  incidents("keepalive_races", "idle_ms", "longest idle", "peer_idle_close_ms",
            "Keep-alive races (request on a connection the peer had closed)",
            {"time", "local", "remote", "idle before reuse", "peer closed after idle", "process"});
  out += "</section>\n";
}

void render_oom(const json &report, std::string &out) {
  out += section_open("oom", "OOM kills");
  const json &o = report["oom"];
  if (o.is_null()) {
    out += not_recorded("oom") + "</section>\n";
    return;
  }
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
  for (const char *key : {"window", "probes", "lost_events", "overhead", "snapshot", "sched", "block", "tcp", "oom",
                          "findings"})
    if (!report.contains(key)) report[key] = nullptr;

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
  out += R"(<nav><a href="#verdict">Verdict</a><a href="#findings">Findings</a><a href="#sched">Scheduler</a><a href="#block">Block</a><a href="#tcp">TCP</a><a href="#oom">OOM</a><a href="#snapshot">Checklist</a><a href="#probes">Probes</a><a href="#trust">Lost events &amp; overhead</a></nav>)";
  out += "\n";
  render_verdict(report, out);
  render_findings(report, out);
  render_sched(report, out);
  render_block(report, out);
  render_tcp(report, out);
  render_oom(report, out);
  render_snapshot(report, out);
  render_probes(report, out);
  out += fmt::format("<footer>{} · triage {} · schema {}</footer>\n</body></html>\n",
                     html_escape(str(w, "host")), html_escape(str(w, "triage_version")), html_escape(str(report, "schema")));
  return out;
}

}  // namespace triage

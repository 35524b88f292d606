// The sched section of the HTML page: the load over time (with the findings' spans and the OOM
// kills on it), the latency histograms and heatmap, per-CPU and per-process tables, longest waits.
#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "report/html_parts.h"
#include "report/outliers.h"
#include "report/process_names.h"
#include "report/text_util.h"
#include "sched/kernel_symbols.h"
#include "sched/sched_report.h"

namespace triage::sched {

using namespace html;

namespace {

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

// The text's per-interval table: each interval's average tasks by state and cause, and how busy
// each CPU was (up to 8 by name; beyond, the least and most busy), folded away under the chart.
std::string interval_table(const json &s) {
  const json &load = arr(s, "load"), &busy_series = arr(s, "cpu_busy_series");
  if (load.empty()) return "";
  constexpr size_t kCpusByName = 8;
  const size_t ncpu = busy_series.empty() ? 0 : arr(busy_series[0], "busy_pct").size();
  std::vector<std::string> header = {"t (s)", "running", "runnable", "blocked", "io", "mem", "other"};
  if (ncpu > kCpusByName) header.push_back("busy% min..max of CPUs");
  else
    for (size_t c = 0; c < ncpu; c++) header.push_back(fmt::format("cpu{} busy%", c));
  std::vector<std::vector<std::string>> rows;
  for (size_t i = 0; i < load.size(); i++) {
    const json &row = load[i];
    std::vector<std::string> cells = {fmt::format("{:.1f}", num(row, "t"))};
    for (const char *key : {"running", "runnable", "blocked", "blocked_io", "blocked_mem", "blocked_other"})
      cells.push_back(fmt::format("{:.2f}", num(row, key)));
    std::vector<double> busy;
    if (i < busy_series.size())
      for (const auto &b : arr(busy_series[i], "busy_pct")) busy.push_back(b.is_number() ? b.get<double>() : 0);
    if (ncpu > kCpusByName) {
      auto [lo, hi] = std::minmax_element(busy.begin(), busy.end());
      cells.push_back(busy.empty() ? "" : fmt::format("{:.0f}..{:.0f}", *lo, *hi));
    } else {
      for (size_t c = 0; c < ncpu; c++) cells.push_back(c < busy.size() ? fmt::format("{:.0f}", busy[c]) : "");
    }
    rows.push_back(std::move(cells));
  }
  return "<details><summary>Per interval (average tasks; busy% of each CPU)</summary>" + table(header, rows, "narrow") +
         "</details>";
}

// Where tasks in D waited: each of the top stacks as an indented tree of frames, innermost first
// (the wait itself) down to the syscall, under its process and how much D time it held.
std::string dstate_stacks_html(const json &s) {
  constexpr size_t kShown = 5, kFrames = 8;
  const json &stacks = arr(s, "dstate_stacks");
  std::string html = fmt::format(
      R"(<h3>Where tasks in D waited (top {} of {})</h3><p class="note">kernel stacks of tasks in D longer than {}, sampled each interval; frames innermost first</p>)",
      std::min(stacks.size(), kShown), fmt_exact(num(s, "dstate_stacks_total")),
      html_escape(format_duration_ns(to_u64(num(s, "outlier_threshold_ns")))));
  if (stacks.empty()) return html + R"(<p class="absent">none sampled: no task was in D past the threshold at a sample, or the stacks probe did not run (see Probes)</p>)";
  for (size_t i = 0; i < stacks.size() && i < kShown; i++) {
    const json &st = stacks[i];
    size_t hidden = 0;
    const auto frames = interesting_frames(st.value("frames", std::vector<std::string>{}), kFrames, &hidden);
    html += fmt::format(R"(<details{}><summary>{} ({}): <b>{}</b> in D over {} samples (longest wait seen {})</summary><ul class="stack" style="list-style:none;font-family:monospace;margin:0.2em 0 0.6em 0;padding-left:1em">)",
                        i == 0 ? " open" : "", esc(st.value("comm", "")), fmt_id(num(st, "pid")),
                        html_escape(format_duration_ns(to_u64(num(st, "wait_ns")))), fmt_exact(num(st, "samples")),
                        html_escape(format_duration_ns(to_u64(num(st, "max_wait_ns")))));
    for (size_t f = 0; f < frames.size(); f++)
      html += fmt::format(R"(<li style="padding-left:{}em">{}{}</li>)", f, f ? "&#8627; " : "", html_escape(frames[f]));
    if (hidden) html += fmt::format(R"(<li style="padding-left:{}em" class="note">... {} outer frames</li>)", frames.size(), hidden);
    html += "</ul></details>";
  }
  return html;
}

}  // namespace

namespace {

// The calibration loop at the window's edges, pressure stall information and the cgroups with a
// CPU quota: what the kernel's counters say of the CPUs beside the tracepoints.
void render_cpu_health_html(const json &s, std::string &out) {
  const json &calibration = at(s, "calibration");
  if (calibration.is_object() && (at(calibration, "start").is_object() || at(calibration, "end").is_object())) {
    std::map<double, std::vector<std::string>> by_cpu;
    for (const char *edge : {"start", "end"}) {
      for (const auto &c : arr(at(calibration, edge), "cpus")) {
        auto &row = by_cpu[num(c, "cpu")];
        if (row.empty()) row = {fmt_id(num(c, "cpu")), "-", "-"};
        row[std::string_view(edge) == "start" ? 1 : 2] =
            fmt::format("{}{:.1f} ms ({:.1f}x)", c.value("finished", true) ? "" : "&ge;", num(c, "wall_us") / 1000,
                        num(c, "ratio", 1));
      }
    }
    std::vector<std::vector<std::string>> rows;
    for (auto &[cpu, row] : by_cpu) rows.push_back(std::move(row));
    out += keyed("calibration",
                 "<h3>Calibration loop per CPU</h3><p class=\"note\">The same short loop pinned to each CPU in turn at "
                 "the window's edges; the ratio is to the median CPU's time (a CPU taken by a real-time task, "
                 "interrupts or the hypervisor, or a slow core, runs it much slower).</p>" +
                     table({"CPU", "at the start", "at the end"}, rows, "narrow"));
  }
  const json &pressure = at(s, "pressure");
  if (pressure.is_object()) {
    const json &avg = at(pressure, "avg");
    out += keyed("pressure", fmt::format("<p class=\"note\">Pressure stall information over the window (share of the "
                                         "time tasks stalled): cpu some {:.1f}%, io some {:.1f}% full {:.1f}%, memory "
                                         "some {:.1f}% full {:.1f}%.</p>",
                                         num(avg, "cpu_some"), num(avg, "io_some"), num(avg, "io_full"),
                                         num(avg, "memory_some"), num(avg, "memory_full")));
  }
  std::vector<std::vector<std::string>> quotas;
  for (const auto &q : arr(s, "cgroup_quota")) {
    if (quotas.size() == 10) break;
    quotas.push_back({html_escape(str(q, "cgroup")), esc(q.value("hierarchy", "")), fmt::format("{:.2f}", num(q, "quota_cpus")),
                      fmt_exact(num(q, "periods")), fmt::format("{:.0f}%", num(q, "throttled_pct")),
                      fmt::format("{:.2f}s", num(q, "throttled_ns") / 1e9), num(q, "usage_ns") > 0 ? fmt::format("{:.2f}s", num(q, "usage_ns") / 1e9) : "-"});
  }
  if (!quotas.empty())
    out += keyed("cgroup_quota cgroup_quota_series",
                 fmt::format("<h3>Cgroups with a CPU quota (top {} of {})</h3><p class=\"note\">A throttled task waits "
                             "runnable with the CPUs idle: its wait shows as run-queue latency, not as busy CPUs.</p>",
                             quotas.size(), std::max<size_t>(quotas.size(), to_u64(num(s, "cgroup_quota_total")))) +
                     table({"cgroup", "hierarchy", "quota (CPUs)", "periods", "throttled", "throttled time", "CPU used"},
                           quotas));
}

}  // namespace

void render_html(const json &report, std::string &out) {
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
  out += keyed("load_avg", fmt::format("<p>Blocked by cause: <b>{:.2f}</b> I/O wait, <b>{:.2f}</b> memory stall, "
                                       "<b>{:.2f}</b> other (locks, ...).</p>",
                                       num(avg, "blocked_io"), num(avg, "blocked_mem"), num(avg, "blocked_other")));
  std::string load_part = "<h3>Load over time</h3>";
  if (arr(s, "load").empty()) {
    load_part += R"(<p class="absent">no samples (the window was shorter than one interval)</p>)";
    if (!markers.empty()) load_part += marker_timeline(duration, markers);
  } else {
    load_part += load_chart(s["load"], num(w, "ncpu"), num(at(w, "slice"), "from_s"), duration, markers,
                            finding_bands(report), interval);
  }
  out += keyed("load", load_part);
  out += keyed("load cpu_busy_series", interval_table(s));
  out += R"(<div class="pair">)" +
         keyed("runq_latency",
               R"(<h3>Run-queue latency</h3><p class="note">wakeup or preemption to running</p>)" +
                   histogram_chart("chart-runq-latency", "run-queue latency histogram", {{"runq", &at(s, "runq_latency")}},
                                   500) +
                   hist_summary(at(s, "runq_latency"))) +
         keyed("dstate_time",
               R"(<h3>D-state time</h3><p class="note">uninterruptible sleep that counts toward the load</p>)" +
                   histogram_chart("chart-dstate", "D-state time histogram", {{"dstate", &at(s, "dstate_time")}}, 500) +
                   hist_summary(at(s, "dstate_time"))) +
         "</div>";
  // The D state split as the load's blocked is (load_avg's blocked_io/mem/other): which cause the
  // long sleeps had.
  const json &by_kind = at(s, "dstate_by_kind");
  if (by_kind.is_object())
    out += keyed("dstate_by_kind",
                 "<h3>D-state time by cause</h3>" +
                     histogram_chart("chart-dstate-kind", "D-state time by cause histogram",
                                     {{"io", &at(by_kind, "io")}, {"mem", &at(by_kind, "mem")}, {"other", &at(by_kind, "other")}}) +
                     legend({{"blocked", "I/O wait"}, {"runnable", "memory stall"}, {"running", "other (locks, ...)"}}));
  out += keyed("runq_heatmap", "<h3>Run-queue latency over time</h3>" +
                                   heatmap_chart("chart-runq-heatmap", "run-queue latency heatmap", arr(s, "runq_heatmap"),
                                                 duration, interval));

  std::vector<std::vector<std::string>> cpus;
  for (const auto &c : arr(s, "cpus"))
    cpus.push_back({fmt_id(num(c, "cpu")),
                    fmt::format(R"(<span class="meter"><span style="width:{:.0f}%"></span></span> {:.1f}%)",
                                std::clamp(num(c, "busy_pct"), 0.0, 100.0), num(c, "busy_pct")),
                    fmt::format("{:.2f}", num(c, "runnable")), fmt::format("{:.2f}", num(c, "blocked")),
                    fmt::format("{:.1f}%", num(c, "steal_pct")), fmt::format("{:.1f}%", num(c, "irq_pct"))});
  if (!cpus.empty())
    out += keyed("cpus", "<h3>Per CPU (window average)</h3>" +
                             table({"CPU", "busy", "runnable", "blocked", "stolen", "interrupts"}, cpus, "narrow"));
  render_cpu_health_html(s, out);
  const json &repaired = at(s, "repaired_spans");
  if (num(repaired, "total") > 0)
    out += keyed("repaired_spans",
                 fmt::format(R"(<p class="note">Waits whose closing event no probe saw, closed later: {} ({} at the task's next switch, {} when it was freed).</p>)",
                             fmt_exact(num(repaired, "total")), fmt_exact(num(repaired, "stale")),
                             fmt_exact(num(repaired, "at_exit"))));
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
                      p.contains("nice") ? fmt_id(num(p, "nice")) : "?", esc(p.value("cpus_allowed", "?")), threads,
                      html_escape(str(p, "cgroup"))});
    }
    size_t total = static_cast<size_t>(num(s, "top_cpu_total"));
    out += keyed("top_cpu", fmt::format("<h3>Top processes by CPU time (top {} of {}; 100% = one CPU for the window)</h3>",
                                        rows.size(), std::max(total, rows.size())) +
                                table({"PID", "COMM", "CPU", "CPU%", "policy", "nice", "CPUs", "busiest threads", "cgroup"},
                                      rows));
  }
  out += keyed("top_runq", render_top_html(top_runq_table(), s));
  out += keyed("top_dstate", render_top_html(top_dstate_table(), s));
  out += keyed("dstate_stacks dstate_stacks_total dstate_stacks_other", dstate_stacks_html(s));

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
    out += keyed("outliers", fmt::format("<h3>Longest single waits</h3><p class=\"note\">{}</p>",
                                         html_escape(outlier_heading("waits above", s, longest.size()))) +
                                 table({"time", "CPU", "kind", "wait", "task", "woken by"}, rows));
  }
  out += "</section>\n";
}

}  // namespace triage::sched

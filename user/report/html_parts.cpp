// The shared pieces of the HTML page (html_parts.h): accessors, formats, tables and charts.
#include "report/html_parts.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <ctime>
#include <map>

namespace triage::html {

namespace {

// Round tick values covering [lo, hi], about `count` of them.
std::vector<double> nice_ticks(double lo, double hi, int count) {
  std::vector<double> ticks;
  if (!(hi > lo)) return {lo};
  double raw = (hi - lo) / std::max(1, count);
  double magnitude = std::pow(10, std::floor(std::log10(raw)));
  double step = magnitude;
  for (double m : {1.0, 2.0, 2.5, 5.0, 10.0})
    if (m * magnitude >= raw) {
      step = m * magnitude;
      break;
    }
  for (double v = std::ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) ticks.push_back(std::fabs(v) < step * 1e-9 ? 0 : v);
  return ticks;
}

// White (none) through yellow to dark red (most), on a log scale so single waits still show.
std::string heat_colour(double count, double peak) {
  double f = peak > 1 ? std::log1p(count) / std::log1p(peak) : 1.0;
  f = f >= 0 ? std::min(f, 1.0) : 0.0;  // NaN (a negative count from a damaged row) too
  struct Rgb {
    double r, g, b;
  };
  const Rgb stops[] = {{255, 245, 200}, {253, 174, 97}, {215, 48, 39}, {110, 0, 20}};
  double pos = f * 3;
  int i = std::min(2, static_cast<int>(pos));
  double u = pos - i;
  auto mix = [&](double a, double b) { return static_cast<int>(a + (b - a) * u); };
  return fmt::format("rgb({},{},{})", mix(stops[i].r, stops[i + 1].r), mix(stops[i].g, stops[i + 1].g),
                     mix(stops[i].b, stops[i + 1].b));
}

struct Bucket {
  uint64_t le;
  double count;
};

std::vector<Bucket> buckets_of(const json &hist) {
  std::vector<Bucket> out;
  for (const auto &b : arr(hist, "buckets")) out.push_back({to_u64(num(b, "le")), num(b, "count")});
  std::sort(out.begin(), out.end(), [](const Bucket &a, const Bucket &b) { return a.le < b.le; });
  return out;
}

// Every power-of-two bound from lo to hi, so empty buckets between used ones show as gaps.
std::vector<uint64_t> bucket_span(uint64_t lo, uint64_t hi) {
  std::vector<uint64_t> out;
  for (uint64_t v = lo; v <= hi && out.size() < 64; v = v ? v * 2 : 1) out.push_back(v);
  return out;
}

}  // namespace

// ---- tolerant accessors --------------------------------------------------------------------

std::string esc(const json &value) {
  if (value.is_string()) return html_escape(value.get<std::string>());
  if (value.is_null()) return "-";
  if (value.is_number_float()) {
    double d = value.get<double>();
    return std::fabs(d) >= 100 || d == std::floor(d) ? fmt::format("{:.0f}", d) : fmt::format("{:.2f}", d);
  }
  return html_escape(value.dump(-1, ' ', false, json::error_handler_t::replace));
}

// ---- number formats ------------------------------------------------------------------------

std::string fmt_num(double v) {
  if (v == 0) return "0";
  double a = std::fabs(v);
  if (a >= 1e9) return fmt::format("{:.1f}G", v / 1e9);
  if (a >= 1e6) return fmt::format("{:.1f}M", v / 1e6);
  if (a >= 1e4) return fmt::format("{:.1f}k", v / 1e3);
  if (a >= 100 || v == std::floor(v)) return fmt::format("{:.0f}", v);
  if (a >= 1) return fmt::format("{:.1f}", v);
  return fmt::format("{:.2f}", v);
}

std::string fmt_latency(double value, const std::string &unit) {
  double us = unit == "ms" ? value * 1000 : unit == "ns" ? value / 1000 : value;
  // A value that rounds up to the next unit moves to it: {:.3g} of 999.8 would print "1e+03".
  if (us < 999.5) return fmt::format("{:.0f}µs", us);
  if (us < 999.5e3) return fmt::format("{:.3g}ms", us / 1000);
  return fmt::format("{:.3g}s", us / 1e6);
}

std::string fmt_kb(double kb) {
  if (kb >= 1024.0 * 1024 * 1024) return fmt::format("{:.1f} TiB", kb / (1024.0 * 1024 * 1024));
  if (kb >= 1024.0 * 1024) return fmt::format("{:.1f} GiB", kb / (1024.0 * 1024));
  if (kb >= 1024.0) return fmt::format("{:.0f} MiB", kb / 1024.0);
  return fmt::format("{:.0f} KiB", kb);
}

std::string fmt_id(double v) { return fmt::format("{:.0f}", v); }
std::string fmt_exact(double v) { return v == std::floor(v) ? fmt::format("{:.0f}", v) : fmt::format("{:.1f}", v); }

std::string fmt_bytes(double bytes) { return fmt_kb(bytes / 1024.0); }

std::string fmt_utc(uint64_t realtime_ns) {
  if (realtime_ns == 0) return "-";
  time_t seconds = static_cast<time_t>(realtime_ns / 1'000'000'000ULL);
  struct tm tm {};
  gmtime_r(&seconds, &tm);
  char buf[64];
  strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S UTC", &tm);
  return buf;
}

// ---- SVG: scales, axes and marks ------------------------------------------------------------

double nice_max(double v) {
  if (v <= 0) return 1;
  auto ticks = nice_ticks(0, v, 4);
  double step = ticks.size() >= 2 ? ticks[1] - ticks[0] : v;
  return std::ceil(v / step - 1e-9) * step;
}

void Chart::rect(double x, double y, double w, double h, const std::string &attrs, const std::string &title) {
  body_ += fmt::format(R"(<rect x="{:.1f}" y="{:.1f}" width="{:.1f}" height="{:.1f}" {})", x, y, std::max(0.0, w),
                       std::max(0.0, h), attrs);
  close_with_title(title);
  body_ += title.empty() ? "" : "</rect>";
}

void Chart::path(const std::string &d, const std::string &attrs, const std::string &title) {
  body_ += fmt::format(R"(<path d="{}" {})", d, attrs);
  close_with_title(title);
  body_ += title.empty() ? "" : "</path>";
}

void Chart::polyline(const std::vector<std::pair<double, double>> &points, const std::string &attrs,
                     const std::string &title) {
  std::string pts;
  for (const auto &[x, y] : points) pts += fmt::format("{:.1f},{:.1f} ", x, y);
  body_ += fmt::format(R"(<polyline points="{}" fill="none" {})", pts, attrs);
  close_with_title(title);
  body_ += title.empty() ? "" : "</polyline>";
}

void Chart::line(double x1, double y1, double x2, double y2, const std::string &attrs) {
  body_ += fmt::format(R"(<line x1="{:.1f}" y1="{:.1f}" x2="{:.1f}" y2="{:.1f}" {}/>)", x1, y1, x2, y2, attrs);
}

void Chart::text(double x, double y, const std::string &escaped, const std::string &attrs) {
  body_ += fmt::format(R"(<text x="{:.1f}" y="{:.1f}" {}>{}</text>)", x, y, attrs, escaped);
}

void Chart::y_axis(const Scale &y, double max, const std::string &label) {
  for (double v : nice_ticks(0, max, 4)) {
    double py = y(v);
    line(plot_left(), py, plot_right(), py, R"(class="grid")");
    text(plot_left() - 6, py + 4, fmt_num(v), R"(class="tick" text-anchor="end")");
  }
  text(12, (plot_top() + plot_bottom()) / 2, label,
       fmt::format(R"~(class="axis-label" text-anchor="middle" transform="rotate(-90 12 {:.1f})")~",
                   (plot_top() + plot_bottom()) / 2));
  line(plot_left(), plot_top(), plot_left(), plot_bottom(), R"(class="axis")");
}

void Chart::x_time_axis(const Scale &x, double t0, double t1) {
  for (double v : nice_ticks(t0, t1, 8)) {
    double px = x(v);
    line(px, plot_bottom(), px, plot_bottom() + 4, R"(class="axis")");
    text(px, plot_bottom() + 16, fmt::format("{}s", fmt_num(v)), R"(class="tick" text-anchor="middle")");
  }
  text((plot_left() + plot_right()) / 2, height_ - 6, "seconds since the start of the window",
       R"(class="axis-label" text-anchor="middle")");
  line(plot_left(), plot_bottom(), plot_right(), plot_bottom(), R"(class="axis")");
}

std::string Chart::finish() const {
  return fmt::format(
      R"(<svg class="chart" id="{}" xmlns="http://www.w3.org/2000/svg" width="{:.0f}" height="{:.0f}" viewBox="0 0 {:.0f} {:.0f}" role="img" aria-label="{}">{}</svg>)",
      id_, width_, height_, width_, height_, label_, body_);
}

void Chart::close_with_title(const std::string &title) {
  body_ += title.empty() ? "/>" : fmt::format("><title>{}</title>", title);
}

std::string legend(const std::vector<std::pair<std::string, std::string>> &items) {
  std::string out = R"(<div class="legend">)";
  for (const auto &[cls, label] : items) out += fmt::format(R"(<span><i class="sw {}"></i>{}</span>)", cls, label);
  return out + "</div>";
}

// ---- HTML building blocks -------------------------------------------------------------------

std::string table(const std::vector<std::string> &header, const std::vector<std::vector<std::string>> &rows,
                  const std::string &cls) {
  std::string out = fmt::format(R"(<table{}><thead><tr>)", cls.empty() ? "" : fmt::format(R"( class="{}")", cls));
  for (const auto &h : header) out += "<th>" + h + "</th>";
  out += "</tr></thead><tbody>";
  for (const auto &row : rows) {
    out += "<tr>";
    for (const auto &cell : row) out += "<td>" + cell + "</td>";
    out += "</tr>";
  }
  return out + "</tbody></table>";
}

std::string keyed(const char *keys, const std::string &html) {
  return html.empty() ? html : fmt::format(R"(<div data-key="{}">{}</div>)", keys, html);
}

std::string not_recorded(const char *family) {
  return fmt::format(R"(<p class="absent">not recorded: the {} probes were not selected or could not attach (see Probes).</p>)",
                     family);
}

std::string section_open(const char *id, const std::string &title) {
  return fmt::format(R"(<section id="{}"><h2>{}</h2>)", id, title);
}

bool open_family_section(const char *family, const std::string &title, const json &section, std::string &out) {
  out += section_open(family, title);
  if (!section.is_null()) return true;
  out += not_recorded(family) + "</section>\n";
  return false;
}

// ---- charts ---------------------------------------------------------------------------------

std::string histogram_chart(const std::string &id, const std::string &aria,
                            const std::vector<std::pair<std::string, const json *>> &series, double max_width) {
  uint64_t lo = UINT64_MAX, hi = 0;
  double peak = 0;
  std::string unit = "us";
  for (const auto &[cls, hist] : series) {
    if (!str(*hist, "unit").empty()) unit = str(*hist, "unit");
    for (const auto &b : buckets_of(*hist))
      if (b.count > 0) lo = std::min(lo, b.le), hi = std::max(hi, b.le), peak = std::max(peak, b.count);
  }
  if (peak == 0) return R"(<p class="absent">no samples</p>)";
  auto bounds = bucket_span(lo, hi);
  Chart chart(id, std::min(max_width, 160 + 60.0 * bounds.size()), 230, aria);
  double ymax = nice_max(peak);
  Scale y = chart.y_scale(0, ymax);
  chart.y_axis(y, ymax, "count");
  double slot = (chart.plot_right() - chart.plot_left()) / bounds.size();
  double bar = (slot - 6) / series.size();
  for (size_t s = 0; s < series.size(); s++) {
    std::map<uint64_t, double> counts;
    for (const auto &b : buckets_of(*series[s].second)) counts[b.le] += b.count;
    for (size_t i = 0; i < bounds.size(); i++) {
      double c = counts.count(bounds[i]) ? counts[bounds[i]] : 0;
      if (c <= 0) continue;
      double x0 = chart.plot_left() + i * slot + 3 + s * bar;
      uint64_t from = bounds[i] <= 1 ? 0 : bounds[i] / 2;
      chart.rect(x0, y(c), bar, y(0) - y(c), fmt::format(R"(class="bar {}")", series[s].first),
                 fmt::format("{} to {}: {:.0f}", fmt_latency(from, unit), fmt_latency(bounds[i], unit), c));
    }
  }
  // A label is up to ~50 px wide at this font: skip some rather than overlap them.
  size_t label_every = static_cast<size_t>(std::clamp(std::ceil(60 / slot), 1.0, 64.0));
  for (size_t i = 0; i < bounds.size(); i += label_every)
    chart.text(chart.plot_left() + (i + 0.5) * slot, chart.plot_bottom() + 14, "&lt;" + fmt_latency(bounds[i], unit),
               R"(class="tick" text-anchor="middle")");
  chart.line(chart.plot_left(), chart.plot_bottom(), chart.plot_right(), chart.plot_bottom(), R"(class="axis")");
  chart.text((chart.plot_left() + chart.plot_right()) / 2, 230 - 6, "latency bucket (log2)",
             R"(class="axis-label" text-anchor="middle")");
  return chart.finish();
}

std::string hist_summary(const json &hist) {
  if (!hist.is_object() || num(hist, "count") == 0) return "";
  std::string unit = str(hist, "unit").empty() ? "us" : str(hist, "unit");
  return fmt::format(R"(<p class="stats">count {} · p50 {} · p90 {} · p99 {} · max {}</p>)", fmt_num(num(hist, "count")),
                     fmt_latency(num(hist, "p50"), unit), fmt_latency(num(hist, "p90"), unit),
                     fmt_latency(num(hist, "p99"), unit), fmt_latency(num(hist, "max"), unit));
}

std::string heatmap_chart(const std::string &id, const std::string &aria, const json &rows, double duration,
                          double interval) {
  uint64_t lo = UINT64_MAX, hi = 0;
  double peak = 0, t1 = duration;
  for (const auto &row : rows) {
    t1 = std::max(t1, num(row, "t"));
    for (const auto &b : buckets_of(row))
      if (b.count > 0) lo = std::min(lo, b.le), hi = std::max(hi, b.le), peak = std::max(peak, b.count);
  }
  if (peak == 0) return R"(<p class="absent">no samples</p>)";
  auto bounds = bucket_span(lo, hi);
  double height = std::max(160.0, 40 + 22.0 * bounds.size() + Chart::kBottom);
  Chart chart(id, kChartWidth, height, aria);
  Scale x = chart.x_scale(0, std::max(t1, 1e-3));
  double cell_h = (chart.plot_bottom() - chart.plot_top()) / bounds.size();
  for (const auto &row : rows) {
    double t = num(row, "t"), dt = num(row, "dt_s", interval);
    double x0 = x(std::max(0.0, t - dt)), x1 = x(t);
    for (const auto &b : buckets_of(row)) {
      if (b.count <= 0) continue;
      auto it = std::find(bounds.begin(), bounds.end(), b.le);
      if (it == bounds.end()) continue;
      size_t i = it - bounds.begin();
      double y0 = chart.plot_bottom() - (i + 1) * cell_h;
      uint64_t from = b.le <= 1 ? 0 : b.le / 2;
      chart.rect(x0, y0, std::max(1.0, x1 - x0), cell_h, fmt::format(R"(class="cell" fill="{}")", heat_colour(b.count, peak)),
                 fmt::format("t={:.1f}s, {} to {}: {:.0f} waits", t, fmt_latency(from, "us"), fmt_latency(b.le, "us"),
                             b.count));
    }
  }
  size_t label_every = bounds.size() > 12 ? 2 : 1;
  for (size_t i = 0; i < bounds.size(); i += label_every)
    chart.text(chart.plot_left() - 6, chart.plot_bottom() - (i + 0.5) * cell_h + 4, "&lt;" + fmt_latency(bounds[i], "us"),
               R"(class="tick" text-anchor="end")");
  chart.line(chart.plot_left(), chart.plot_top(), chart.plot_left(), chart.plot_bottom(), R"(class="axis")");
  chart.x_time_axis(x, 0, t1);
  // Colour key.
  std::string key = R"(<div class="legend">fewer )";
  for (int i = 0; i <= 8; i++)
    key += fmt::format(R"(<i class="sw" style="background:{}"></i>)", heat_colour(std::pow(peak, i / 8.0), peak));
  key += fmt::format(" more waits (max {:.0f} in one cell)</div>", peak);
  return chart.finish() + key;
}

std::string line_chart(const std::string &id, const std::string &aria, const std::string &y_label, const json &rows,
                       const std::vector<LineSeries> &series, double duration, double interval) {
  std::vector<const LineSeries *> present;
  double peak = 0, t1 = duration;
  auto value = [&](const json &row, const LineSeries &s) {
    double v = num(row, s.key);
    double dt = num(row, "dt_s", interval);
    return s.per_second && dt > 0 ? v / dt : v;
  };
  for (const auto &s : series) {
    bool any = false;
    for (const auto &row : rows)
      if (at(row, s.key).is_number()) any = true, peak = std::max(peak, value(row, s));
    if (any) present.push_back(&s);
  }
  if (present.empty() || rows.empty()) return R"(<p class="absent">no samples</p>)";
  if (peak == 0) return R"(<p class="absent">all zero during the window</p>)";
  for (const auto &row : rows) t1 = std::max(t1, num(row, "t"));
  Chart chart(id, kChartWidth, 220, aria);
  Scale x = chart.x_scale(0, std::max(t1, 1e-3));
  double ymax = nice_max(std::max(peak * 1.1, 1.0));
  Scale y = chart.y_scale(0, ymax);
  chart.y_axis(y, ymax, y_label);
  std::vector<std::pair<std::string, std::string>> keys;
  for (const auto *s : present) {
    std::vector<std::pair<double, double>> points;
    for (const auto &row : rows)  // a row without the key was not measured then: no point, not a zero
      if (at(row, s->key).is_number()) points.emplace_back(x(num(row, "t")), y(value(row, *s)));
    if (points.size() == 1)
      points.insert(points.begin(), {std::max(x(0.0), points[0].first - (x(interval) - x(0.0))), points[0].second});
    chart.polyline(points, fmt::format(R"(class="line {}")", s->cls), s->label);
    keys.push_back({s->cls, s->label});
  }
  chart.x_time_axis(x, 0, t1);
  return chart.finish() + legend(keys);
}

}  // namespace triage::html

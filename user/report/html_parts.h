// What every section of the HTML page is built from: tolerant readers of the report model, number
// formats, tables, and inline SVG charts. html.cpp draws the page's frame with them, and each
// family its own section (user/<family>/<family>_html.cpp), so a family's page looks like the rest.
//
// Safety: strings from the traced machine go through html_escape() (report/html.h) before they
// reach any of these; a parameter that takes HTML says so.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "report/html.h"
#include "core/json_fields.h"

namespace triage::html {

using nlohmann::json;

// ---- tolerant accessors: core/json_fields.h's, here too so that html::num names them -------
using triage::arr;
using triage::at;
using triage::num;
using triage::str;
using triage::to_u64;
using triage::u64;

// Any value as escaped HTML text; null as "-".
std::string esc(const json &value);

// ---- number formats ------------------------------------------------------------------------

std::string fmt_num(double v);
// A latency in the histogram's unit ("us" or "ms") as a short human label.
std::string fmt_latency(double value, const std::string &unit);
std::string fmt_kb(double kb);
// Identifiers (PIDs, CPUs, ports) and exact counts are never abbreviated.
std::string fmt_id(double v);
std::string fmt_exact(double v);
std::string fmt_bytes(double bytes);
std::string fmt_utc(uint64_t realtime_ns);

// ---- SVG: scales, axes and marks ------------------------------------------------------------

struct Scale {
  double d0 = 0, d1 = 1, r0 = 0, r1 = 1;
  double operator()(double v) const { return d1 == d0 ? r0 : r0 + (v - d0) * (r1 - r0) / (d1 - d0); }
};

// The smallest round number >= v, so a y axis ends on a tick.
double nice_max(double v);

// One chart: an <svg> with a plot area inside margins. Marks are appended in drawing order.
class Chart {
 public:
  static constexpr double kLeft = 56, kRight = 16, kTop = 14, kBottom = 38;

  Chart(std::string id, double width, double height, std::string label)
      : id_(std::move(id)), width_(width), height_(height), label_(std::move(label)) {}

  double plot_left() const { return kLeft; }
  double plot_right() const { return width_ - kRight; }
  double plot_top() const { return kTop; }
  double plot_bottom() const { return height_ - kBottom; }
  Scale x_scale(double d0, double d1) const { return {d0, d1, plot_left(), plot_right()}; }
  Scale y_scale(double d0, double d1) const { return {d0, d1, plot_bottom(), plot_top()}; }

  // Title text must already be escaped.
  void rect(double x, double y, double w, double h, const std::string &attrs, const std::string &title = "");
  void path(const std::string &d, const std::string &attrs, const std::string &title = "");
  void polyline(const std::vector<std::pair<double, double>> &points, const std::string &attrs,
                const std::string &title = "");
  void line(double x1, double y1, double x2, double y2, const std::string &attrs);
  // Text must already be escaped.
  void text(double x, double y, const std::string &escaped, const std::string &attrs = "");

  // Axis lines, gridlines and tick labels; x ticks from a linear scale.
  void y_axis(const Scale &y, double max, const std::string &label);
  void x_time_axis(const Scale &x, double t0, double t1);

  std::string finish() const;

 private:
  void close_with_title(const std::string &title);
  std::string id_;
  double width_, height_;
  std::string label_;
  std::string body_;
};

constexpr double kChartWidth = 1000;

std::string legend(const std::vector<std::pair<std::string, std::string>> &items);  // {css class, label}

// ---- HTML building blocks -------------------------------------------------------------------

// A table; header and cells are HTML already (escape machine strings before).
std::string table(const std::vector<std::string> &header, const std::vector<std::vector<std::string>> &rows,
                  const std::string &cls = "");
// One part of a family's section (a table, a chart, a sentence) inside <div data-key="...">, naming
// the JSON keys of the section it shows, space-separated: the parity test (html_parity_test.cpp)
// checks from these that the page shows every key the report holds. Empty stays empty.
std::string keyed(const char *keys, const std::string &html);
std::string not_recorded(const char *family);
std::string section_open(const char *id, const std::string &title);
// Opens a family's section, whose id is the family's name (the page's nav links to it). False when
// the family was not recorded (`section` null): the section then says so, and is closed.
bool open_family_section(const char *family, const std::string &title, const json &section, std::string &out);

// ---- charts ---------------------------------------------------------------------------------

// Log2 histograms as bars, one colour per series, grouped per bucket.
std::string histogram_chart(const std::string &id, const std::string &aria,
                            const std::vector<std::pair<std::string, const json *>> &series,  // {css class, hist}
                            double max_width = kChartWidth);
// count and percentiles under a histogram; empty when it has no samples.
std::string hist_summary(const json &hist);

// Waits over time: time on x, latency bucket (µs) on y, colour = waits in that bucket during the
// interval. `rows` are log2 histograms with their interval's end `t` and length `dt_s`.
std::string heatmap_chart(const std::string &id, const std::string &aria, const json &rows, double duration,
                          double interval);

struct LineSeries {
  const char *key, *label, *cls;
  bool per_second;  // the row holds a count over dt_s
};

// Lines over time from rows [{t, dt_s, key...}]; series with no value anywhere are left out.
std::string line_chart(const std::string &id, const std::string &aria, const std::string &y_label, const json &rows,
                       const std::vector<LineSeries> &series, double duration, double interval);

}  // namespace triage::html

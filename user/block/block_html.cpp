// The block section of the HTML page: read and write latency per device, a table per device and
// operation, the I/O per interval, whose I/O it was and which D-state processes waited on it, the
// slowest requests, and how the requests were counted. The same rows as the text section.
#include <fmt/format.h>

#include <algorithm>
#include <string>
#include <vector>

#include "block/block_report.h"
#include "report/html_parts.h"
#include "report/outliers.h"
#include "report/process_names.h"
#include "report/text_util.h"

namespace triage::block {

using namespace html;

namespace {

std::string device_label(const json &d) {
  std::string name = str(d, "name");
  return html_escape(name.empty() ? str(d, "dev") : fmt::format("{} ({})", name, str(d, "dev")));
}

std::string process_cell(const json &p) {
  return fmt::format("{} ({})", html_escape(process_label(p)), fmt_id(num(p, "pid")));
}

// Durations as the text section prints them ("850us", "12.3ms"), so both show the same number.
std::string duration_ns(const json &row, const char *key) { return format_duration_ns(to_u64(num(row, key))); }
std::string duration_us(const json &row, const char *key) { return format_duration_ns(to_u64(num(row, key) * 1000)); }

std::string devices_part(const json &devices) {
  if (devices.empty()) return R"(<p class="absent">no I/O completed in the window</p>)";
  std::string out;
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
  return out;
}

// The last intervals, as many as the text shows: the end of the window is where a reader starts.
std::string timeline_part(const json &timeline) {
  if (timeline.empty()) return "";
  size_t first = timeline.size() > kTimelineShown ? timeline.size() - kTimelineShown : 0;
  std::vector<std::vector<std::string>> rows;
  for (size_t i = first; i < timeline.size(); i++) {
    const json &row = timeline[i];
    rows.push_back({fmt::format("{:.1f}", num(row, "t")), html_escape(str(row, "name").empty() ? str(row, "dev") : str(row, "name")),
                    fmt::format("{:.1f}", num(row, "iops")), fmt::format("{:.2f}", num(row, "mbps")),
                    duration_us(row, "p50_us"), duration_us(row, "p99_us")});
  }
  std::string note = first ? fmt::format(R"(<p class="note">{} earlier rows in the JSON report</p>)", first) : "";
  return "<h3>Per interval (devices with completed requests)</h3>" + note +
         table({"t (s)", "device", "IOPS", "MB/s", "p50", "p99"}, rows, "narrow");
}

std::string dstate_devices_part(const json &ties) {
  std::vector<std::vector<std::string>> rows;
  for (const auto &t : ties.is_array() ? ties : json::array())
    rows.push_back({process_cell(t), duration_ns(t, "dstate_ns"), duration_ns(t, "io_ns"), fmt_exact(num(t, "block_count")),
                    duration_ns(t, "block_ns"), html_device_list(t, "devices")});
  if (rows.empty()) return "";
  return "<h3>D-state processes and the devices they waited on</h3>" +
         table({"process", "in D", "in I/O wait", "requests submitted", "their I/O time", "devices"}, rows);
}

std::string dstate_unmatched_part(const json &unmatched) {
  std::vector<std::vector<std::string>> rows;
  for (const auto &u : unmatched) {
    if (rows.size() == kUnmatchedShown) break;
    rows.push_back({process_cell(u), duration_ns(u, "dstate_ns")});
  }
  if (rows.empty()) return "";
  return fmt::format("<h3>In D, but no block request of their own in the window ({})</h3>",
                     html_escape(list_extent(rows.size(), unmatched.size(), "D-state time"))) +
         R"(<p class="note">not tied to a device: a network filesystem, a lock, a page fault on shared pages, or writeback by a kworker</p>)" +
         table({"process", "in D"}, rows, "narrow");
}

// The slowest requests, not the last: the worst one is what a reader looks for.
std::string outliers_part(const json &b) {
  const json shown = keep_worst(arr(b, "outliers"), kOutliersShown, "latency_ns");
  if (shown.empty()) return "";
  std::vector<std::vector<std::string>> rows;
  for (const auto &e : shown) {
    const json &sector = at(e, "sector");
    rows.push_back({fmt::format("{:.2f}s", num(e, "t")), html_escape(str(e, "name").empty() ? str(e, "dev") : str(e, "name")),
                    html_escape(str(e, "op")), duration_ns(e, "latency_ns"),
                    sector.is_number_unsigned() ? fmt::format("{}", sector.get<uint64_t>()) : "unknown", fmt_bytes(num(e, "size")),
                    process_cell(e), num(e, "error") ? fmt_id(num(e, "error")) : "-"});
  }
  return fmt::format(R"(<h3>Slowest requests</h3><p class="note">{}</p>)",
                     html_escape(outlier_heading("requests slower than", b, shown.size()))) +
         table({"time", "device", "op", "latency", "sector", "size", "process", "error"}, rows);
}

}  // namespace

std::string html_device_list(const json &row, const char *key) {
  std::string devs;
  for (const auto &d : arr(row, key)) devs += (devs.empty() ? "" : ", ") + device_label(d);
  return devs;
}

void render_html(const json &report, std::string &out) {
  const json &b = report["block"];
  if (!open_family_section("block", "Block devices: latency per device", b, out)) return;
  out += fmt::format("<p>Lost events: {}.</p>", fmt_num(num(b, "lost_events")));
  out += keyed("devices", devices_part(arr(b, "devices")));
  out += keyed("timeline", timeline_part(arr(b, "timeline")));
  out += keyed("top_processes", render_top_html(top_processes_table(), b));
  if (at(b, "dstate_devices").is_null())
    out += "<p>sched was not recorded: no D-state time to tie to devices.</p>";
  out += keyed("dstate_devices", dstate_devices_part(at(b, "dstate_devices")));
  out += keyed("dstate_unmatched", dstate_unmatched_part(arr(b, "dstate_unmatched")));
  out += keyed("outliers", outliers_part(b));
  std::string accounting;
  for (const auto &line : request_accounting(b)) accounting += "<li>" + html_escape(line) + "</li>";
  out += keyed("completions unpaired_completions partial_completions dropped_requests recursion_misses",
               "<h3>How the requests were counted</h3><ul>" + accounting + "</ul>");
  out += "</section>\n";
}

}  // namespace triage::block

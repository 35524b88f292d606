// The block section of the HTML page: read and write latency per device, a table per device and
// operation, and how the requests were counted.
#include <fmt/format.h>

#include <string>
#include <vector>

#include "block/block_report.h"
#include "report/html_parts.h"

namespace triage::block {

using namespace html;

namespace {

std::string device_label(const json &d) {
  std::string name = str(d, "name");
  return html_escape(name.empty() ? str(d, "dev") : fmt::format("{} ({})", name, str(d, "dev")));
}

}  // namespace

void render_html(const json &report, std::string &out) {
  const json &b = report["block"];
  if (!open_family_section("block", "Block devices: latency per device", b, out)) return;
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
  for (const auto &line : request_accounting(b)) out += "<li>" + html_escape(line) + "</li>";
  out += "</ul></section>\n";
}

}  // namespace triage::block

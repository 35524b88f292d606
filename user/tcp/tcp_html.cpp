// The tcp section of the HTML page: retransmits, resets and sockets over time, the retransmitting
// flows, state transitions, listeners, CLOSE_WAIT sockets and leaks, and reset incidents.
#include <fmt/format.h>

#include <string>
#include <vector>

#include "report/html_parts.h"
#include "tcp/tcp_report.h"

namespace triage::tcp {

using namespace html;

void render_html(const json &report, std::string &out) {
  const json &t = report["tcp"];
  if (!open_family_section("tcp", "TCP: connections, retransmits and listen queues", t, out)) return;
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
  // A cut list says so, with the total beside it (top_caption, as the text report).
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
           caption(top_caption(rows.size(), to_u64(num(rt, "flows_total", arr(rt, "flows").size())), "segments")) +
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
           caption(top_caption(rows.size(), to_u64(num(t, "close_wait_total", arr(t, "close_wait").size())), "age")) +
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
    auto shown = first_rows_with_largest(events, 20, size_key, size_name);
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

}  // namespace triage::tcp

// The tcp section of the HTML page: retransmits, resets and sockets over time, connections per
// service port, connect latency and lifetime, the retransmitting flows, state transitions,
// listeners, TIME_WAIT and CLOSE_WAIT sockets and leaks, resets and reset incidents. The same rows
// as the text section, and the same caps.
#include <fmt/format.h>

#include <string>
#include <vector>

#include "report/html_parts.h"
#include "tcp/tcp_report.h"
#include "tcp/tcp_series_text.h"

namespace triage::tcp {

using namespace html;

namespace {

using Rows = std::vector<std::vector<std::string>>;

// A cut list says so, with the total beside it (top_caption, as the text report).
std::string caption(const std::string &text) { return text.empty() ? "" : " (" + html_escape(text) + ")"; }

std::string endpoint(const json &row, const char *addr, const char *port) {
  return fmt::format("{}:{}", esc(at(row, addr)), fmt_id(num(row, port)));
}

std::string process_cell(const json &row) {
  return fmt::format("{} ({})", html_escape(str(row, "comm")), fmt_id(num(row, "pid")));
}

// A log2 histogram with its count and percentiles, or nothing when it holds no sample.
std::string histogram_part(const char *title, const std::string &id, const char *cls, const json &hist) {
  if (num(hist, "count") == 0) return "";
  return fmt::format("<h3>{}</h3>", title) + histogram_chart(id, title, {{cls, &hist}}, 500) + hist_summary(hist);
}

std::string by_port_part(const json &t) {
  Rows rows;
  for (const auto &p : arr(t, "by_port"))
    rows.push_back({fmt_id(num(p, "port")), esc(at(p, "role")), fmt_exact(num(p, "opens")), fmt_exact(num(p, "established")),
                    fmt_exact(num(p, "active_closes")), fmt_exact(num(p, "passive_closes")), fmt_exact(num(p, "aborts")),
                    fmt_exact(num(p, "connect_failures")), fmt_exact(num(p, "connect_avg_us")) + "us",
                    fmt_exact(num(p, "lifetime_avg_ms")) + "ms"});
  if (rows.empty()) return "";
  return "<h3>Per service port (server: local port, client: remote port)</h3>" +
         table({"port", "role", "opens", "established", "active closes", "passive closes", "aborts", "connect failures",
                "connect avg", "lifetime avg"},
               rows);
}

std::string retransmits_part(const json &rt) {
  if (!rt.is_object()) return "";
  std::string out = fmt::format("<p>Retransmitted segments: <b>{}</b> ({} SYN, {} SYN-ACK; {} failed to send).</p>",
                                fmt_num(num(rt, "count")), fmt_exact(num(rt, "syn")), fmt_exact(num(rt, "synack")),
                                fmt_exact(num(rt, "failed")));
  if (num(rt, "count") == 0) return out;
  out += R"(<div class="pair"><div>)" + histogram_part("RTO at retransmit", "chart-tcp-rto", "write", at(rt, "rto_ms")) +
         "</div><div>" +
         histogram_part("Smoothed RTT at retransmit", "chart-tcp-srtt", "read", at(rt, "srtt_us")) + "</div></div>";
  Rows rows;
  for (const auto &f : arr(rt, "flows")) {
    if (rows.size() == kFlowsShown) break;
    rows.push_back({endpoint(f, "saddr", "sport"), endpoint(f, "daddr", "dport"), fmt_num(num(f, "count")),
                    esc(at(f, "state")), fmt_num(num(f, "max_backoff"))});
  }
  if (!rows.empty())
    out += "<h3>Retransmitting flows" +
           caption(top_caption(rows.size(), to_u64(num(rt, "flows_total", arr(rt, "flows").size())), "segments")) +
           "</h3>" + table({"local", "remote", "segments", "state", "max backoff"}, rows);
  return out;
}

std::string listeners_part(const json &t) {
  Rows rows;
  for (const auto &l : arr(t, "listeners"))
    rows.push_back({endpoint(l, "addr", "port"), num(l, "pid") ? process_cell(l) : "-", esc(at(l, "backlog")),
                    esc(at(l, "backlog_peak")), esc(at(l, "backlog_max")), esc(at(l, "syn_recv_peak")),
                    esc(at(l, "overflows")), esc(at(l, "syn_drops")), esc(at(l, "syncookies"))});
  if (rows.empty()) return "";
  return "<h3>Listeners</h3>" + table({"address", "process", "backlog", "peak", "max", "SYN_RECV peak", "overflows",
                                       "SYN drops", "syncookies"},
                                      rows);
}

std::string time_wait_part(const json &tw) {
  if (!tw.is_object()) return "";
  std::string out = fmt::format("<p>TIME_WAIT at the end: <b>{}</b> (peak {}), active closer: {}.</p>",
                                fmt_exact(num(tw, "count")), fmt_exact(num(tw, "peak")), esc(at(tw, "active_closer")));
  Rows rows;
  for (const auto &p : arr(tw, "by_port")) {
    if (rows.size() == kTimeWaitPortsShown) break;
    rows.push_back({esc(at(p, "side")), fmt_id(num(p, "port")), fmt_exact(num(p, "count"))});
  }
  if (!rows.empty())
    out += "<h3>TIME_WAIT per port" + caption(top_caption(rows.size(), arr(tw, "by_port").size(), "sockets")) + "</h3>" +
           table({"side", "port", "sockets"}, rows, "narrow");
  return out;
}

// How often CLOSE_WAIT and SYN_RECV were counted: a walk of the connection hash per interval,
// fewer when its CPU cost is held down, and then a short CLOSE_WAIT can go unseen.
std::string connection_walks_part(const json &walks) {
  if (!walks.is_object()) return "";
  return fmt::format(
      R"(<p class="note">CLOSE_WAIT and SYN_RECV counted by {} walks of the connection hash ({}), every {:.1f} s at the longest, taking {:.0f} ms of CPU ({:.1f} % of one CPU).</p>)",
      fmt_exact(num(walks, "count")), esc(at(walks, "request")), num(walks, "longest_gap_s"), num(walks, "cpu_ms"),
      100 * num(walks, "cpu_share"));
}

std::string close_wait_part(const json &t) {
  Rows rows;
  for (const auto &c : arr(t, "close_wait")) {
    if (rows.size() == kCloseWaitShown) break;
    rows.push_back({process_cell(c), endpoint(c, "laddr", "lport"), endpoint(c, "raddr", "rport"),
                    fmt_latency(num(c, "age_ms"), "ms")});
  }
  if (rows.empty()) return "";
  return "<h3>Sockets in CLOSE_WAIT at the end" +
         caption(top_caption(rows.size(), to_u64(num(t, "close_wait_total", arr(t, "close_wait").size())), "age")) +
         "</h3>" + table({"process", "local", "remote", "age"}, rows);
}

// The leaks over the slice: owners whose sockets stayed in CLOSE_WAIT, even if gone by the end.
std::string close_wait_leaks_part(const json &t) {
  Rows rows;
  for (const auto &leak : arr(t, "close_wait_leaks")) {
    std::string ports;
    for (const auto &p : arr(leak, "ports")) ports += (ports.empty() ? "" : ", ") + fmt_id(p.is_number() ? p.get<double>() : 0);
    rows.push_back({fmt::format("{:.1f}-{:.1f} s", num(leak, "first_t"), num(leak, "last_t")), process_cell(leak),
                    fmt_num(num(leak, "count")), html_escape(ports), fmt_latency(num(leak, "oldest_ms"), "ms"),
                    fmt_num(num(leak, "still_open"))});
  }
  if (rows.empty()) return "";
  return "<h3>CLOSE_WAIT stuck during the window (3 walks in a row and 2 s or more), per owner</h3>" +
         table({"when", "process", "sockets", "local ports", "oldest", "open at the end"}, rows);
}

std::string resets_part(const json &resets) {
  if (!resets.is_object()) return "";
  std::string out = fmt::format("<p>Resets: <b>{}</b> sent, <b>{}</b> received.</p>", fmt_exact(num(resets, "sent")),
                                fmt_exact(num(resets, "received")));
  const json &events = arr(resets, "events");
  if (events.empty()) return out;
  const ShownRows shown = reset_events_shown(events);
  Rows rows;
  for (size_t i : shown.index) {
    const json &e = events[i];
    rows.push_back({fmt::format("{:.2f}s", num(e, "t")), str(e, "kind") == "reset_sent" ? "sent" : "received",
                    endpoint(e, "saddr", "sport"), endpoint(e, "daddr", "dport"), esc(at(e, "state")), process_cell(e)});
  }
  return out + "<h3>Reset events" + caption(shown.caption) + "</h3>" +
         table({"time", "", "from", "to", "state", "process"}, rows);
}

// Per network namespace, the kernel's TCP counters over the window (/proc/net/netstat and snmp):
// what the findings' ratios come from.
std::string netstat_part(const json &t) {
  Rows rows;
  for (const auto &ns : arr(t, "netstat")) {
    std::string counters;
    for (const auto &[name, value] : at(ns, "delta").items())
      counters += (counters.empty() ? "" : ", ") + html_escape(name) + " " + esc(value);
    rows.push_back({esc(at(ns, "netns")), esc(at(ns, "name")), fmt_id(num(ns, "pid")), counters});
  }
  if (rows.empty()) return "";
  return "<h3>Kernel TCP counters over the window, per network namespace</h3>" +
         table({"netns", "name", "a process in it", "counters that moved"}, rows);
}

// Reset incidents: the first by time, the largest always among them, as the text report.
std::string incidents_part(const json &t, const char *list, const char *size_key, const char *size_name,
                           const char *peer_key, const std::string &title, const std::vector<std::string> &header) {
  const json &events = arr(t, list);
  auto shown = first_rows_with_largest(events, kListedEvents, size_key, size_name);
  Rows rows;
  for (size_t i : shown.index) {
    const json &r = events[i];
    rows.push_back({fmt::format("{:.2f}s", num(r, "t")), endpoint(r, "saddr", "sport"), endpoint(r, "daddr", "dport"),
                    fmt_latency(num(r, size_key), "ms"), fmt_latency(num(r, peer_key), "ms"), process_cell(r)});
  }
  if (rows.empty()) return "";
  return "<h3>" + title + caption(shown.caption) + "</h3>" + table(header, rows);
}

}  // namespace

void render_html(const json &report, std::string &out) {
  const json &t = report["tcp"];
  if (!open_family_section("tcp", "TCP: connections, retransmits and listen queues", t, out)) return;
  const json &w = report["window"];
  double duration = num(w, "duration_s"), interval = num(w, "interval_s", 1);
  out += fmt::format("<p>Lost events: {}.</p>", fmt_num(num(t, "lost_events")));
  if (double resets = num(t, "counter_resets"))
    out += fmt::format("<p>Kernel counters seen lower than at the read before: {} (those intervals count 0).</p>",
                       fmt_num(resets));
  if (!arr(t, "rate_series").empty())
    out += keyed("rate_series",
                 "<h3>Retransmits, resets and state changes over time</h3>" +
                     line_chart("chart-tcp-rates", "TCP retransmits and state changes per second", "per second",
                                t["rate_series"],
                                {{"retrans_segs", "retransmitted segments/s", "s1", true},
                                 {"syn_retrans", "SYN retransmits/s", "s2", true},
                                 {"transitions", "state changes/s", "s3", true},
                                 {"resets_sent", "resets sent/s", "s4", true},
                                 {"resets_received", "resets received/s", "s5", true}},
                                duration, interval));
  if (!arr(t, "socket_series").empty())
    out += keyed("socket_series", "<h3>Sockets over time</h3>" +
                                      line_chart("chart-tcp-sockets", "TCP sockets by state over time", "sockets",
                                                 t["socket_series"],
                                                 {{"time_wait", "TIME_WAIT", "s1", false},
                                                  {"close_wait", "CLOSE_WAIT", "s2", false},
                                                  {"syn_recv", "SYN_RECV", "s3", false},
                                                  {"accept_backlog", "accept backlog", "s4", false}},
                                                 duration, interval));
  out += keyed("retransmits", retransmits_part(at(t, "retransmits")));
  Rows transitions;
  for (const auto &tr : arr(t, "transitions"))
    transitions.push_back({esc(at(tr, "from")), esc(at(tr, "to")), fmt_num(num(tr, "count"))});
  if (!transitions.empty())
    out += keyed("transitions", "<h3>State transitions</h3>" + table({"from", "to", "count"}, transitions, "narrow"));
  out += keyed("by_port", by_port_part(t));
  out += R"(<div class="pair">)" +
         keyed("connect_latency", histogram_part("Connect latency (SYN_SENT to ESTABLISHED)", "chart-tcp-connect", "read",
                                                 at(t, "connect_latency"))) +
         keyed("lifetime", histogram_part("Connection lifetime (ESTABLISHED to CLOSE, connections opened in the window)", "chart-tcp-lifetime", "write",
                                          at(t, "lifetime"))) +
         "</div>";
  out += keyed("listeners", listeners_part(t));
  out += keyed("time_wait", time_wait_part(at(t, "time_wait")));
  out += keyed("connection_walks", connection_walks_part(at(t, "connection_walks")));
  out += keyed("close_wait", close_wait_part(t));
  out += keyed("close_wait_leaks", close_wait_leaks_part(t));
  out += keyed("resets", resets_part(at(t, "resets")));
  out += keyed("read_timeouts", incidents_part(t, "read_timeouts", "timeout_ms", "longest timeout", "late_by_ms",
                                               "Read timeouts (request unanswered, FIN, then the late answer reset)",
                                               {"time", "local", "remote", "gave up after", "answer later by", "process"}));
  out += keyed("keepalive_races",
               incidents_part(t, "keepalive_races", "idle_ms", "longest idle", "peer_idle_close_ms",
                              "Keep-alive races (request on a connection the peer had closed)",
                              {"time", "local", "remote", "idle before reuse", "peer closed after idle", "process"}));
  out += keyed("netstat", netstat_part(t));
  out += "</section>\n";
}

}  // namespace triage::tcp

#include "tcp/tcp_report.h"
#include "tcp/tcp_series_text.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <tuple>

#include "core/histogram.h"
#include "report/finding_span.h"
#include "report/text_util.h"

namespace triage::tcp {
namespace {

// read-timeout: a side that sent, then closed with its request unanswered, and reset the late
// answer. Closing within 50 ms of the last send is not waiting for an answer at all (a QUIT-
// and-close protocol, a fire-and-forget write), so below that it is not a timeout.
constexpr uint64_t kReadTimeoutMinMs = 50;

json flow_of(const json &e) {
  return {{"netns", u64(e, "netns")}, {"saddr", e.value("saddr", "")}, {"sport", u64(e, "sport")},
          {"daddr", e.value("daddr", "")}, {"dport", u64(e, "dport")}};
}

uint64_t ms_between(uint64_t from_ns, uint64_t to_ns) { return to_ns > from_ns ? (to_ns - from_ns) / 1000000 : 0; }

}  // namespace

ShownRows first_rows_with_largest(const json &rows, size_t limit, const char *largest_key, const char *largest_name) {
  ShownRows shown;
  size_t total = rows.size(), largest = 0;
  for (size_t i = 0; i < total; i++)
    if (u64(rows[i], largest_key) > u64(rows[largest], largest_key)) largest = i;
  for (size_t i = 0; i < total && i < limit; i++) shown.index.push_back(i);
  if (total <= limit) return shown;
  if (largest < limit) {
    shown.caption = fmt::format("first {} of {} by time, the {} among them", limit, total, largest_name);
  } else {
    shown.index.back() = largest;
    shown.caption = fmt::format("first {} of {} by time, and the {}", limit - 1, total, largest_name);
  }
  return shown;
}

std::string top_caption(size_t shown, uint64_t total, const char *by) {
  return shown < total ? fmt::format("top {} of {} by {}", shown, total, by) : "";
}

json read_timeouts(const json &reset_events) {
  json rows = json::array();
  for (const auto &e : reset_events) {
    if (e.value("kind", "") != "reset_sent") continue;
    uint64_t fin = u64(e, "fin_ns"), last_send = u64(e, "last_send_ns");
    if (!fin || !last_send || fin < last_send) continue;
    uint64_t timeout_ms = ms_between(last_send, fin);
    if (timeout_ms < kReadTimeoutMinMs) continue;
    json row = flow_of(e);
    row["timeout_ms"] = timeout_ms;
    row["late_by_ms"] = ms_between(fin, u64(e, "t_ns"));
    row["rtt_us"] = u64(e, "srtt_us");
    row["pid"] = u64(e, "pid");
    row["comm"] = e.value("comm", "");
    row["t"] = e.value("t", 0.0);
    rows.push_back(row);
  }
  return rows;
}

json keepalive_races(const json &reset_events) {
  json rows = json::array();
  for (const auto &e : reset_events) {
    if (e.value("kind", "") != "reset_received" || e.value("state", "") != "TCP_CLOSE_WAIT") continue;
    if (e.value("role", "") == "server") continue;  // a server answering after the client left
    uint64_t last_send = u64(e, "last_send_ns"), last_recv = u64(e, "last_recv_ns"), fin = u64(e, "close_wait_ns");
    // The request this side sent after its last answer is what met the reset.
    if (!last_send || last_send <= last_recv) continue;
    json row = flow_of(e);
    row["idle_ms"] = ms_between(last_recv, last_send);
    // How long the peer waited, idle, before its FIN: its keep-alive timeout as observed.
    row["peer_idle_close_ms"] = fin ? ms_between(last_recv, fin) : 0;
    row["reused_after_fin_ms"] = fin ? ms_between(fin, last_send) : 0;
    row["role"] = e.value("role", "");
    row["pid"] = u64(e, "pid");
    row["comm"] = e.value("comm", "");
    row["t"] = e.value("t", 0.0);
    rows.push_back(row);
  }
  return rows;
}

void classify_resets(json &s, const json &resets) {
  s["read_timeouts"] = read_timeouts(resets);
  s["keepalive_races"] = keepalive_races(resets);
  // Seen from both ends, one incident shows on each side in the other's shape: a server that
  // answers late (CLOSE_WAIT, then its answer is reset) looks like a keep-alive race, and a
  // server that idle-closed after its answer looks like a read timeout. The server's own rows are
  // left out by role; for sockets born before the window (role unknown) the other side decides.
  using Flow = std::tuple<uint64_t, std::string, uint64_t, std::string, uint64_t>;
  auto flow = [](const json &r) {
    return Flow{u64(r, "netns"), r.value("saddr", ""), u64(r, "sport"), r.value("daddr", ""), u64(r, "dport")};
  };
  auto reversed = [](const json &r) {
    return Flow{u64(r, "netns"), r.value("daddr", ""), u64(r, "dport"), r.value("saddr", ""), u64(r, "sport")};
  };
  std::set<Flow> client_races, timed_out;
  for (const auto &k : s["keepalive_races"])
    if (k.value("role", "") == "client") client_races.insert(flow(k));
  json kept = json::array();
  for (const auto &rt : s["read_timeouts"])
    if (!client_races.count(reversed(rt))) kept.push_back(rt), timed_out.insert(flow(rt));
  s["read_timeouts"] = kept;
  kept = json::array();
  for (const auto &k : s["keepalive_races"])
    if (k.value("role", "") == "client" || !timed_out.count(reversed(k))) kept.push_back(k);
  s["keepalive_races"] = kept;
  s["read_timeouts_total"] = s["read_timeouts"].size();
  s["keepalive_races_total"] = s["keepalive_races"].size();
}

void render_text(const json &s, std::string &out) {
  heading("TCP: connections, closes, retransmits and listen queues", out);
  if (s.is_null()) {
    out += "  not recorded\n";
    return;
  }
  out += fmt::format("  lost events {}, untracked sockets {} (per-socket map full or out of memory), dropped flows {}, tracepoint "
                     "runs skipped by the kernel (nested on a CPU) {}\n",
                     s.value("lost_events", 0ULL), s.value("untracked_sockets", 0ULL), s.value("dropped_flows", 0ULL),
                     s.value("recursion_misses", 0ULL));
  if (uint64_t resets = s.value("counter_resets", 0ULL))
    out += fmt::format("  kernel counters seen lower than at the read before: {} (those intervals count 0, not a wrapped "
                       "value)\n",
                       resets);

  out += "\nstate transitions\n";
  if (s["transitions"].empty()) out += "  (none)\n";
  for (const auto &t : s["transitions"])
    out += fmt::format("  {:>16} -> {:<16} {:>8}\n", t.value("from", ""), t.value("to", ""), t.value("count", 0ULL));

  out += "\nper service port (server: local port, client: remote port)\n";
  out += fmt::format("  {:>6} {:<8} {:>7} {:>7} {:>9} {:>9} {:>6} {:>8} {:>10} {:>10}\n", "PORT", "ROLE", "OPENS",
                     "ESTAB", "ACT.CLOSE", "PAS.CLOSE", "ABORT", "CONNFAIL", "CONN.AVG", "LIFE.AVG");
  for (const auto &p : s["by_port"])
    out += fmt::format("  {:>6} {:<8} {:>7} {:>7} {:>9} {:>9} {:>6} {:>8} {:>8}us {:>8}ms\n", p.value("port", 0),
                       p.value("role", ""), p.value("opens", 0ULL), p.value("established", 0ULL),
                       p.value("active_closes", 0ULL), p.value("passive_closes", 0ULL), p.value("aborts", 0ULL),
                       p.value("connect_failures", 0ULL), p.value("connect_avg_us", 0ULL),
                       p.value("lifetime_avg_ms", 0ULL));

  out += "\nconnect latency (SYN_SENT -> ESTABLISHED)\n";
  render_histogram(s["connect_latency"], "usecs", out);

  const auto &rt = s["retransmits"];
  out += fmt::format("\nretransmits: {} segments ({} SYN, {} SYN-ACK; {} failed to send)\n", rt.value("count", 0ULL),
                     rt.value("syn", 0ULL), rt.value("synack", 0ULL), rt.value("failed", 0ULL));
  if (rt.value("count", 0ULL)) {
    out += "RTO at retransmit\n";
    render_histogram(rt["rto_ms"], "msecs", out);
    out += "smoothed RTT at retransmit\n";
    render_histogram(rt["srtt_us"], "usecs", out);
    size_t flows_shown = std::min(kFlowsShown, rt["flows"].size());
    std::string caption = top_caption(flows_shown, rt.value("flows_total", uint64_t{rt["flows"].size()}), "segments");
    out += fmt::format("retransmitting flows{}\n", caption.empty() ? "" : " (" + caption + ")");
    out += fmt::format("  {:>22} {:>22} {:>6} {:<16} {:>7}\n", "LOCAL", "REMOTE", "SEGS", "STATE", "BACKOFF");
    for (size_t i = 0; i < flows_shown; i++) {
      const auto &f = rt["flows"][i];
      out += fmt::format("  {:>22} {:>22} {:>6} {:<16} {:>7}\n",
                         fmt::format("{}:{}", f.value("saddr", ""), f.value("sport", 0)),
                         fmt::format("{}:{}", f.value("daddr", ""), f.value("dport", 0)), f.value("count", 0ULL),
                         f.value("state", ""), f.value("max_backoff", 0));
    }
  }

  out += "\nlisteners (accept queue now/peak/max, overflows attributed from the namespace's ListenOverflows)\n";
  if (s["listeners"].empty()) out += "  (none)\n";
  for (const auto &l : s["listeners"])
    out += fmt::format("  {:>22} queue {}/{}/{} syn_recv peak {} overflows {} syn_drops {} cookies {}  {} ({}) netns {}\n",
                       fmt::format("{}:{}", l.value("addr", ""), l.value("port", 0)), l.value("backlog", 0),
                       l.value("backlog_peak", 0), l.value("backlog_max", 0), l.value("syn_recv_peak", 0),
                       l.value("overflows", 0ULL), l.value("syn_drops", 0ULL), l.value("syncookies", 0ULL),
                       printable(l.value("comm", "")), l.value("pid", 0), l.value("netns", 0ULL));

  const auto &tw = s["time_wait"];
  out += fmt::format("\nTIME_WAIT at the end: {} (peak {}), active closer: {}\n", tw.value("count", 0ULL),
                     tw.value("peak", 0ULL), tw.value("active_closer", ""));
  const size_t ports_shown = std::min(kTimeWaitPortsShown, tw["by_port"].size());
  for (size_t i = 0; i < ports_shown; i++) {
    const auto &p = tw["by_port"][i];
    out += fmt::format("  {} side, port {}: {}\n", p.value("side", ""), p.value("port", 0), p.value("count", 0ULL));
  }
  if (std::string caption = top_caption(ports_shown, tw["by_port"].size(), "sockets"); !caption.empty())
    out += fmt::format("  ({} ports)\n", caption);

  out += fmt::format("\nCLOSE_WAIT at the end: {}\n", s.value("close_wait_count", 0ULL));
  const json walks = s.value("connection_walks", json::object());
  if (walks.value("longest_gap_s", 0.0) > 1.5 * walks.value("interval_s", 1.0))
    out += fmt::format("  (CLOSE_WAIT and SYN_RECV counted every {:.1f} s at the longest: {} walks of the connection hash "
                       "took {:.0f} ms of CPU, and are held to {:.1f} % of one CPU)\n",
                       walks.value("longest_gap_s", 0.0), walks.value("count", 0ULL), walks.value("cpu_ms", 0.0),
                       100 * walks.value("cpu_share", 0.0));
  const size_t close_wait_shown = std::min(kCloseWaitShown, s["close_wait"].size());
  if (std::string caption = top_caption(close_wait_shown, s.value("close_wait_total", uint64_t{s["close_wait"].size()}), "age");
      !caption.empty())
    out += fmt::format("  ({})\n", caption);
  for (size_t i = 0; i < close_wait_shown; i++) {
    const auto &cw = s["close_wait"][i];
    out += fmt::format("  {}:{} <- {}:{}  {} ({})  age {}{}\n", cw.value("laddr", ""), cw.value("lport", 0),
                       cw.value("raddr", ""), cw.value("rport", 0), printable(cw.value("comm", "")), cw.value("pid", 0),
                       format_duration_ns(cw.value("age_ms", 0ULL) * 1000000), cw.value("age_exact", false) ? "" : "+");
  }
  const json leaks = s.value("close_wait_leaks", json::array());
  if (!leaks.empty()) {
    out += "CLOSE_WAIT stuck during the window (3 walks in a row and 2 s or more), per owner\n";
    for (const auto &leak : leaks) {
      std::string ports;
      for (const auto &p : leak.value("ports", json::array())) ports += (ports.empty() ? "" : ",") + p.dump();
      out += fmt::format("  {:>7.1f}s-{:.1f}s  {} socket(s) on port {}  {} ({})  oldest {}, {} open at the end\n",
                         leak.value("first_t", 0.0), leak.value("last_t", 0.0), u64(leak, "count"), ports,
                         printable(leak.value("comm", "")), u64(leak, "pid"),
                         format_duration_ns(u64(leak, "oldest_ms") * 1000000), u64(leak, "still_open"));
    }
  }
  render_socket_series(s, out);
  const auto &resets = s["resets"];
  out += fmt::format("\nresets: {} sent, {} received\n", resets.value("sent", 0ULL), resets.value("received", 0ULL));
  render_reset_events(s, out);
  if (s.contains("read_timeouts") && !s["read_timeouts"].empty()) {
    auto shown = first_rows_with_largest(s["read_timeouts"], kListedEvents, "timeout_ms", "longest timeout");
    out += fmt::format("read timeouts (request unanswered, FIN, then the late answer reset){}\n",
                       shown.caption.empty() ? "" : "; " + shown.caption);
    for (size_t i : shown.index) {
      const auto &r = s["read_timeouts"][i];
      out += fmt::format("  {:>8.2f}s  {} -> {}  gave up after {} ms, answer {} ms later  {} ({})\n", r.value("t", 0.0),
                         endpoint(r, "saddr", "sport"),
                         endpoint(r, "daddr", "dport"), u64(r, "timeout_ms"), u64(r, "late_by_ms"),
                         printable(r.value("comm", "")), u64(r, "pid"));
    }
  }
  if (s.contains("keepalive_races") && !s["keepalive_races"].empty()) {
    auto shown = first_rows_with_largest(s["keepalive_races"], kListedEvents, "idle_ms", "longest idle");
    out += fmt::format("keep-alive races (request on a connection the peer had closed, answered by a reset){}\n",
                       shown.caption.empty() ? "" : "; " + shown.caption);
    for (size_t i : shown.index) {
      const auto &r = s["keepalive_races"][i];
      out += fmt::format("  {:>8.2f}s  {} -> {}  idle {} ms before reuse, peer closed after {} ms idle  {} ({})\n",
                         r.value("t", 0.0), endpoint(r, "saddr", "sport"), endpoint(r, "daddr", "dport"), u64(r, "idle_ms"),
                         u64(r, "peer_idle_close_ms"), printable(r.value("comm", "")), u64(r, "pid"));
    }
  }
}

std::string endpoint(const json &row, const char *addr, const char *port) {
  return fmt::format("{}:{}", row.value(addr, ""), row.value(port, 0));
}

}  // namespace triage::tcp

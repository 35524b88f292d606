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

// Above 1% of segments retransmitted TCP throughput drops noticeably (loss-based congestion
// control halves the window per loss event); fewer than 10 segments is noise on any link.
constexpr double kRetransRatioWarning = 0.01;
constexpr double kRetransRatioCritical = 0.05;
constexpr uint64_t kRetransMinSegments = 10;
// RFC 6298 initial RTO (1 s) and Linux's default tcp_syn_retries (6): the k-th SYN retransmit
// leaves at 2^k - 1 s after connect().
constexpr double kInitialRtoS = 1.0;
constexpr size_t kFlowsShown = 10;
constexpr size_t kListedEvents = 10;  // read timeouts, keep-alive races: rows in the text report
// read-timeout: a side that sent, then closed with its request unanswered, and reset the late
// answer. Closing within 50 ms of the last send is not waiting for an answer at all (a QUIT-
// and-close protocol, a fire-and-forget write), so below that it is not a timeout.
constexpr uint64_t kReadTimeoutMinMs = 50;
// Linux's minimum RTO (TCP_RTO_MIN): a response lost once arrives at least this much later.
constexpr uint64_t kRtoMinMs = 200;
// Ten wasted requests in one window are a pattern, not bad luck: each one is a retry upstream.
constexpr size_t kReadTimeoutCritical = 10;
constexpr size_t kKeepaliveRaceCritical = 10;

uint64_t u64(const json &j, const char *key) { return j.is_object() ? j.value(key, uint64_t{0}) : 0; }

// A finding's span from tcp.spans (build_section judged it over the slice's rows).
void stamp_span(const json &s, const std::string &key, json &finding) {
  const json spans = s.value("spans", json::object());
  const json span = spans.is_object() ? spans.value(key, json::object()) : json::object();
  for (const char *k : {"first_t", "last_t", "peak_t"}) finding[k] = span.is_object() ? span.value(k, 0.0) : 0.0;
}

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

namespace {
std::string endpoint(const json &row, const char *addr, const char *port);
}  // namespace

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
  const size_t ports_shown = std::min<size_t>(5, tw["by_port"].size());
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
  const size_t close_wait_shown = std::min<size_t>(10, s["close_wait"].size());
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

namespace {

uint64_t netstat_total(const json &s, const char *key) {
  uint64_t total = 0;
  for (const auto &ns : s["netstat"]) total += u64(ns["delta"], key);
  return total;
}

std::string endpoint(const json &row, const char *addr, const char *port) {
  return fmt::format("{}:{}", row.value(addr, ""), row.value(port, 0));
}

}  // namespace

void add_findings(const json &report, json &findings) {
  const json &s = report["tcp"];
  if (s.is_null()) return;

  // listen-overflow: per listener, plus what could not be pinned on one listener.
  for (const auto &l : s["listeners"]) {
    uint64_t overflows = u64(l, "overflows");
    if (!overflows) continue;
    json &f = findings.emplace_back(json{
        {"id", "listen-overflow"},
         {"severity", overflows >= kListenOverflowCritical ? "critical" : "warning"},
         {"title", fmt::format("Accept queue of {} overflowed {} times (backlog {}, held by {} ({}))",
                               endpoint(l, "addr", "port"), overflows, l.value("backlog_max", 0), l.value("comm", "?"),
                               l.value("pid", 0))},
         {"evidence",
          {{"listener", endpoint(l, "addr", "port")},
           {"overflows", overflows},
           {"backlog_max", l.value("backlog_max", 0)},
           {"backlog_peak", l.value("backlog_peak", 0)},
           {"full_samples", l.value("full_samples", 0)},
           {"samples", l.value("samples", 0)},
           {"pid", l.value("pid", 0)},
           {"comm", l.value("comm", "")},
           {"netns", l.value("netns", 0ULL)}}},
         {"advice",
          "The application does not accept() fast enough for its backlog: connections are dropped and clients "
          "retry after 1 s, 3 s, 7 s. Accept faster (more acceptor threads, a non-blocking accept loop), and raise "
          "the listen() backlog together with net.core.somaxconn (the kernel caps the backlog at it)."}});
    stamp_span(s, listener_span_key(u64(l, "netns"), l.value("addr", ""), u64(l, "port")), f);
  }
  for (const auto &ns : s["netstat"]) {
    uint64_t rest = u64(ns, "unattributed_overflows");
    if (!rest) continue;
    // Only what the sampler saw may be claimed: "several full" needs several full at one sample.
    uint64_t several_full = std::min(rest, u64(ns, "overflows_several_full"));
    // A listener that lived less than one sample (opened and closed between two reads of its
    // namespace) is never seen: the only overflows that may stay unattributed, said so.
    uint64_t no_listener = std::min(rest - several_full, u64(ns, "overflows_no_listener"));
    std::string why = several_full == rest ? "several listeners were full at the same sample"
                      : no_listener == rest
                          ? "no listener of the namespace was seen: it lived less than one sample"
                      : several_full || no_listener
                          ? fmt::format("{} while several listeners were full at the same sample, {} with no listener "
                                        "seen (it lived less than one sample), {} with no single listener seen full",
                                        several_full, no_listener, rest - several_full - no_listener)
                          : "no single listener was seen full when they happened";
    json &f = findings.emplace_back(json{{"id", "listen-overflow"},
                        {"severity", rest >= kListenOverflowCritical ? "critical" : "warning"},
                        {"title", fmt::format("{} accept-queue overflows in network namespace {} not attributable to "
                                              "one listener ({})",
                                              rest, ns.value("netns", 0ULL), why)},
                        {"evidence",
                         {{"netns", ns.value("netns", 0ULL)},
                          {"overflows", rest},
                          {"several_full", several_full},
                          {"no_listener_seen", no_listener}}},
                        {"advice", "Check the listeners whose accept queue peaked at its maximum in the listeners table."}});
    stamp_span(s, netns_span_key(u64(ns, "netns")), f);
  }

  // syn-flood: the SYN queue itself filled (cookies or drops), or an implausible number of half-open connections.
  uint64_t cookies = netstat_total(s, "SyncookiesSent"), reqq_drops = netstat_total(s, "TCPReqQFullDrop");
  uint64_t syn_recv_peak = 0;
  std::string flooded = "-";
  for (const auto &l : s["listeners"])
    if (u64(l, "syn_recv_peak") > syn_recv_peak) syn_recv_peak = u64(l, "syn_recv_peak"), flooded = endpoint(l, "addr", "port");
  if (cookies || reqq_drops || syn_recv_peak >= kSynRecvFloodPeak) {
    json &f = findings.emplace_back(json{
        {"id", "syn-flood"},
         {"severity", reqq_drops ? "critical" : "warning"},
         {"title", fmt::format("SYN queue overflow: {} SYN cookies sent, {} SYNs dropped, up to {} half-open on {}", cookies,
                               reqq_drops, syn_recv_peak, flooded)},
         {"evidence",
          {{"syncookies_sent", cookies}, {"syn_queue_drops", reqq_drops}, {"syn_recv_peak", syn_recv_peak}, {"listener", flooded}}},
         {"advice",
          "Either a SYN flood (many sources that never complete the handshake: filter upstream, keep "
          "net.ipv4.tcp_syncookies=1) or a legitimate burst larger than the SYN queue: raise "
          "net.ipv4.tcp_max_syn_backlog and the listen() backlog."}});
    stamp_span(s, "syn-flood", f);
  }

  // close-wait-leak: per owner, judged over the slice (tcp.close_wait_leaks), named while it was
  // alive even if it and its sockets were gone by the end.
  for (const auto &leak : s.value("close_wait_leaks", json::array())) {
    uint64_t pid = u64(leak, "pid"), count = u64(leak, "count"), still_open = u64(leak, "still_open");
    std::string comm = leak.value("comm", "");
    std::string ports;
    for (const auto &p : leak.value("ports", json::array())) ports += (ports.empty() ? "" : ",") + p.dump();
    json &f = findings.emplace_back(json{
        {"id", "close-wait-leak"},
        {"severity", count >= kCloseWaitCritical ? "critical" : "warning"},
        {"title", fmt::format("{} socket(s) on port {} stuck in CLOSE_WAIT in {} ({}) from {:.1f} s to {:.1f} s, oldest {}{}",
                              count, ports, pid ? comm : "no process (orphaned)", pid, leak.value("first_t", 0.0),
                              leak.value("last_t", 0.0), format_duration_ns(u64(leak, "oldest_ms") * 1000000),
                              still_open ? fmt::format(", {} still open at the end", still_open)
                                         : "; gone by the end")},
        {"evidence",
         {{"pid", pid},
          {"comm", comm},
          {"count", count},
          {"ports", leak.value("ports", json::array())},
          {"peer_ports", leak.value("peer_ports", json::array())},
          {"oldest_ms", u64(leak, "oldest_ms")},
          {"still_open", still_open},
          {"netns", u64(leak, "netns")}}},
        {"advice",
         "The peer closed and this process never closed its end: a missing close() on an error or EOF path, or a "
         "connection pool that does not notice dead connections. Each one holds a descriptor until the process "
         "exits; find the code path with ls -l /proc/<pid>/fd and fix the close."}});
    for (const char *k : {"first_t", "last_t", "peak_t"}) f[k] = leak.value(k, 0.0);
  }

  // time-wait-churn.
  const auto &tw = s["time_wait"];
  uint64_t tw_peak = std::max(u64(tw, "peak"), u64(tw, "count"));
  uint64_t worst_client_port = 0;
  for (const auto &p : tw["by_port"])
    if (p.value("side", "") == "client") worst_client_port = std::max(worst_client_port, u64(p, "count"));
  if (tw_peak >= kTimeWaitChurn || worst_client_port >= kTimeWaitPortExhaustion) {
    std::string closer = tw.value("active_closer", "none");
    std::string top_port = "-";
    if (!tw["by_port"].empty())
      top_port = fmt::format("{} side of port {}", tw["by_port"][0].value("side", ""), tw["by_port"][0].value("port", 0));
    json &f = findings.emplace_back(
        json{{"id", "time-wait-churn"},
         {"severity", worst_client_port >= kTimeWaitPortExhaustion ? "critical" : "warning"},
         {"title", fmt::format("{} sockets in TIME_WAIT (peak); the {} closes first ({})", tw_peak, closer, top_port)},
         {"evidence",
          {{"time_wait_peak", tw_peak},
           {"time_wait_end", u64(tw, "count")},
           {"server_side", u64(tw, "server")},
           {"client_side", u64(tw, "client")},
           {"active_closer", closer},
           {"top", top_port}}},
         {"advice",
          closer.find("server") != std::string::npos
              ? "The server closes each connection first, so it keeps the TIME_WAIT state: enable HTTP keep-alive / "
                "connection reuse so clients keep connections open, or let the client close first."
              : "Clients open a new connection per request and close it first: reuse connections (keep-alive, "
                "pooling); TIME_WAIT holds ephemeral ports, so net.ipv4.tcp_tw_reuse=1 and a wider "
                "ip_local_port_range buy time."}});
    stamp_span(s, "time-wait-churn", f);
  }

  // retransmits: against the segments sent, when the namespaces' counters are known.
  const auto &rt = s["retransmits"];
  uint64_t retrans = u64(rt, "count");
  uint64_t out_segs = netstat_total(s, "TcpOutSegs");
  double ratio = out_segs ? static_cast<double>(retrans) / static_cast<double>(out_segs) : 0;
  if (retrans >= kRetransMinSegments && (ratio >= kRetransRatioWarning || !out_segs)) {
    std::string worst = "-";
    uint64_t max_backoff = 0;
    if (!rt["flows"].empty()) {
      const auto &f = rt["flows"][0];
      worst = fmt::format("{} -> {} ({} segments)", endpoint(f, "saddr", "sport"), endpoint(f, "daddr", "dport"),
                          f.value("count", 0ULL));
    }
    // From the rows the section's flow table shows, so the two cannot disagree.
    for (size_t i = 0; i < rt["flows"].size() && i < kFlowsShown; i++)
      max_backoff = std::max(max_backoff, u64(rt["flows"][i], "max_backoff"));
    json &f = findings.emplace_back(
        json{{"id", "retransmits"},
         {"severity", ratio >= kRetransRatioCritical ? "critical" : "warning"},
         {"title", fmt::format("{} TCP segments retransmitted ({:.1f}% of segments sent); worst flow {}", retrans,
                               ratio * 100, worst)},
         {"evidence",
          {{"retransmitted_segments", retrans},
           {"segments_sent", out_segs},
           {"ratio", ratio},
           {"rto_p50_ms", rt["rto_ms"].value("p50", 0.0)},
           {"srtt_p50_us", rt["srtt_us"].value("p50", 0.0)},
           {"flows", rt.value("flow_count", 0)},
           {"worst_flow", worst},
           {"max_backoff", max_backoff}}},
         {"advice",
          "Packets are lost on the path: check interface errors and drops (ip -s link, ethtool -S), a saturated "
          "link or queue (tc -s qdisc), firewall rate limits, and the flows' remote ends. Retransmits spread over "
          "many peers point at this host's link; concentrated on one peer, at that path."}});
    stamp_span(s, "retransmits", f);
  }

  // read-timeout: per service (the remote end the timed-out requests went to).
  {
    struct Agg {
      size_t count = 0;
      uint64_t timeout_max = 0, late_max = 0, processing_max = 0, rtt_us = 0, pid = 0;
      std::string comm;
      ConditionSpan span;  // each timed-out request at its reset
    };
    std::map<std::tuple<uint64_t, std::string, uint64_t>, Agg> by_target;
    for (const auto &r : s.value("read_timeouts", json::array())) {
      auto &a = by_target[{u64(r, "netns"), r.value("daddr", ""), u64(r, "dport")}];
      a.count++;
      a.timeout_max = std::max(a.timeout_max, u64(r, "timeout_ms"));
      a.late_max = std::max(a.late_max, u64(r, "late_by_ms"));
      // The answer left the server timeout + late_by after the request: its processing time.
      a.processing_max = std::max(a.processing_max, u64(r, "timeout_ms") + u64(r, "late_by_ms"));
      a.rtt_us = std::max(a.rtt_us, u64(r, "rtt_us"));
      a.span.observe(r.value("t", 0.0), static_cast<double>(u64(r, "timeout_ms")), true);
      a.pid = u64(r, "pid");
      a.comm = r.value("comm", "");
    }
    for (const auto &[key, a] : by_target) {
      std::string target = fmt::format("{}:{}", std::get<1>(key), std::get<2>(key));
      uint64_t safe_ms = a.processing_max + kRtoMinMs + (a.rtt_us + 999) / 1000;
      json &f = findings.emplace_back(
          json{{"id", "read-timeout"},
           {"severity", a.count >= kReadTimeoutCritical ? "critical" : "warning"},
           {"title", fmt::format("{} request(s) to {} timed out after {} ms; the answer came {} ms later and was reset "
                                 "({} ({}))",
                                 a.count, target, a.timeout_max, a.late_max, a.comm.empty() ? "?" : a.comm, a.pid)},
           {"evidence",
            {{"target", target},
             {"count", a.count},
             {"timeout_ms", a.timeout_max},
             {"late_by_ms", a.late_max},
             {"processing_ms", a.processing_max},
             {"rtt_us", a.rtt_us},
             {"min_safe_read_timeout_ms", safe_ms},
             {"pid", a.pid},
             {"comm", a.comm},
             {"netns", std::get<0>(key)}}},
           {"advice",
            fmt::format("The client's read timeout ({} ms) is shorter than the server's processing time ({}+ ms): it "
                        "gives up, closes, and the server's work is thrown away with a reset (and usually retried, "
                        "adding load). A read timeout must exceed processing time + RTO (200 ms minimum) + RTT: "
                        "here at least {} ms; or make the server answer faster.",
                        a.timeout_max, a.processing_max, safe_ms)}});
      a.span.stamp(f);
    }
  }

  // keepalive-race: per service.
  {
    struct Agg {
      size_t count = 0;
      uint64_t idle_min = UINT64_MAX, idle_max = 0, peer_close_min = UINT64_MAX, pid = 0;
      std::string comm;
      ConditionSpan span;  // each race at its reset
    };
    std::map<std::tuple<uint64_t, std::string, uint64_t>, Agg> by_target;
    for (const auto &r : s.value("keepalive_races", json::array())) {
      auto &a = by_target[{u64(r, "netns"), r.value("daddr", ""), u64(r, "dport")}];
      a.count++;
      a.idle_min = std::min(a.idle_min, u64(r, "idle_ms"));
      a.idle_max = std::max(a.idle_max, u64(r, "idle_ms"));
      if (u64(r, "peer_idle_close_ms")) a.peer_close_min = std::min(a.peer_close_min, u64(r, "peer_idle_close_ms"));
      a.span.observe(r.value("t", 0.0), static_cast<double>(u64(r, "idle_ms")), true);
      a.pid = u64(r, "pid");
      a.comm = r.value("comm", "");
    }
    for (const auto &[key, a] : by_target) {
      std::string target = fmt::format("{}:{}", std::get<1>(key), std::get<2>(key));
      uint64_t server_ms = a.peer_close_min == UINT64_MAX ? 0 : a.peer_close_min;
      json &f = findings.emplace_back(
          json{{"id", "keepalive-race"},
           {"severity", a.count >= kKeepaliveRaceCritical ? "critical" : "warning"},
           {"title", fmt::format("{} request(s) on idle keep-alive connections to {} met a reset: the server closes "
                                 "after ~{} ms idle, the client reused connections idle {}-{} ms ({} ({}))",
                                 a.count, target, server_ms, a.idle_min, a.idle_max, a.comm.empty() ? "?" : a.comm,
                                 a.pid)},
           {"evidence",
            {{"target", target},
             {"count", a.count},
             {"idle_ms_min", a.idle_min},
             {"idle_ms_max", a.idle_max},
             {"server_keepalive_timeout_ms", server_ms},
             {"pid", a.pid},
             {"comm", a.comm},
             {"netns", std::get<0>(key)}}},
           {"advice",
            fmt::format("The server closed idle connections (after ~{} ms) just as the client reused them: the "
                        "request crossed the server's FIN and was answered by a reset. The client's idle timeout "
                        "(connection pool max idle time) must be shorter than the server's keep-alive timeout, with "
                        "margin for an RTT (e.g. {} ms here); retrying idempotent requests that fail on a reused "
                        "connection hides the rest.",
                        server_ms, server_ms * 3 / 4)}});
      a.span.stamp(f);
    }
  }

  // connect-timeout-risk: connects that needed SYN retransmits.
  uint64_t syn = u64(rt, "syn");
  if (syn) {
    uint64_t max_backoff = 0;
    double srtt_s = 0;
    std::string target = "-";
    // Every flow whose SYN was retransmitted, also those that connected since (their row's state
    // is no longer SYN_SENT, but their backoff in the table is the one that delayed the connect).
    for (const auto &f : rt["flows"]) {
      if (!u64(f, "syn_count")) continue;
      if (u64(f, "max_backoff") >= max_backoff) {
        max_backoff = u64(f, "max_backoff");
        target = endpoint(f, "daddr", "dport");
      }
    }
    double p99_connect_s = s["connect_latency"].value("p99", 0.0) / 1e6;
    srtt_s = std::max(srtt_s, p99_connect_s - (std::pow(2.0, static_cast<double>(max_backoff)) - 1) * kInitialRtoS);
    // The SYN retransmitted for the n-th time leaves (2^n - 1) x initial RTO after connect(); its
    // answer needs one more RTT. A connect timeout below that fails every connect that needed it.
    int retransmits = static_cast<int>(std::max<uint64_t>(max_backoff, 1));
    double safe_s = (std::pow(2.0, retransmits) - 1) * kInitialRtoS + std::max(srtt_s, 0.0);
    json &f = findings.emplace_back(
        json{{"id", "connect-timeout-risk"},
         {"severity", "warning"},
         {"title", fmt::format("{} SYN retransmit(s): connects to {} took {}+ s; a connect timeout below {:.1f} s fails them",
                               syn, target, static_cast<int>(std::pow(2.0, retransmits) - 1), safe_s)},
         {"evidence",
          {{"syn_retransmits", syn},
           {"max_backoff", max_backoff},
           {"target", target},
           {"connect_p99_us", s["connect_latency"].value("p99", 0.0)},
           {"min_safe_connect_timeout_s", safe_s}}},
         {"advice",
          fmt::format("SYNs are lost (or the server's SYN queue / accept queue is full): each retransmit doubles the "
                      "wait from the initial RTO of 1 s (1 s, 3 s, 7 s, 15 s after connect()). Keep client connect "
                      "timeouts above {:.1f} s or they fail exactly these connects; fix the loss or the listener.",
                      safe_s)}});
    stamp_span(s, "connect-timeout-risk", f);
  }
}

}  // namespace triage::tcp

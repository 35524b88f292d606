// The tcp family's findings, one function per id, each judged on the tcp section of the report
// (a slice's, or the whole window's).
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <string>
#include <tuple>

#include "report/finding_span.h"
#include "report/text_util.h"
#include "tcp/tcp_report.h"

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
// Linux's minimum RTO (TCP_RTO_MIN): a response lost once arrives at least this much later.
constexpr uint64_t kRtoMinMs = 200;
// Ten wasted requests in one window are a pattern, not bad luck: each one is a retry upstream.
constexpr size_t kReadTimeoutCritical = 10;
constexpr size_t kKeepaliveRaceCritical = 10;
// Half-open requests from fewer distinct addresses than this at every walk are a few clients'
// (a load balancer, a test client, a NAT), not a flood's spread of sources.
constexpr uint64_t kSynFloodSources = 16;

// A finding's span from tcp.spans (build_section judged it over the slice's rows).
void stamp_span(const json &s, const std::string &key, json &finding) {
  const json spans = s.value("spans", json::object());
  const json span = spans.is_object() ? spans.value(key, json::object()) : json::object();
  for (const char *k : {"first_t", "last_t", "peak_t"}) finding[k] = span.is_object() ? span.value(k, 0.0) : 0.0;
}

uint64_t netstat_total(const json &s, const char *key) {
  uint64_t total = 0;
  for (const auto &ns : s["netstat"]) total += u64(ns["delta"], key);
  return total;
}

// Per listener, plus the overflows of a namespace that could not be pinned on one listener.
void listen_overflow(const json &s, const char *id, json &findings) {
  for (const auto &l : s["listeners"]) {
    uint64_t overflows = u64(l, "overflows");
    if (!overflows) continue;
    json &f = findings.emplace_back(json{
        {"id", id},
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
    json &f = findings.emplace_back(json{{"id", id},
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
}

// A full accept queue fills the SYN queue too: a handshake whose last ACK finds the accept queue
// full stays half-open (the kernel drops that ACK and resends its SYN-ACK), so a slow server's own
// clients bring cookies and SYN-queue drops. That is no flood: a flood's half-open requests come
// from many sources.
bool half_open_held_back_by_full_accept_queue(const json &l) {
  bool accept_queue_full = u64(l, "overflows") || u64(l, "full_samples");
  return accept_queue_full && u64(l, "syn_recv_sources_peak") < kSynFloodSources;
}

// The SYN queue itself filled (cookies or drops), or an implausible number of half-open
// connections; not when each listener with half-open requests or cookies had its accept queue
// full and few sources (see above: listen-overflow tells that story).
void syn_flood(const json &s, const char *id, json &findings) {
  uint64_t cookies = netstat_total(s, "SyncookiesSent"), reqq_drops = netstat_total(s, "TCPReqQFullDrop");
  uint64_t syn_recv_peak = 0;
  std::string flooded = "-";
  bool any_pressure = false, all_held_back = true, accept_queue_full = false;
  uint64_t sources_peak = 0;
  for (const auto &l : s["listeners"]) {
    if (u64(l, "syn_recv_peak") > syn_recv_peak) syn_recv_peak = u64(l, "syn_recv_peak"), flooded = endpoint(l, "addr", "port");
    sources_peak = std::max(sources_peak, u64(l, "syn_recv_sources_peak"));
    accept_queue_full |= u64(l, "overflows") || u64(l, "full_samples");
    if (u64(l, "syn_recv_peak") || u64(l, "syncookies") || u64(l, "syn_drops")) {
      any_pressure = true;
      all_held_back &= half_open_held_back_by_full_accept_queue(l);
    }
  }
  if (any_pressure && all_held_back) return;
  // Cookies no listener could be shown to own, while an accept queue overflowed and no walk saw
  // half-open requests from many sources: the same story, told by listen-overflow.
  if (!any_pressure && accept_queue_full && sources_peak < kSynFloodSources) return;
  if (cookies || reqq_drops || syn_recv_peak >= kSynRecvFloodPeak) {
    json &f = findings.emplace_back(json{
        {"id", id},
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
}

// Per owner, judged over the slice (tcp.close_wait_leaks), named while it was alive even if it
// and its sockets were gone by the end.
void close_wait_leak(const json &s, const char *id, json &findings) {
  for (const auto &leak : s.value("close_wait_leaks", json::array())) {
    uint64_t pid = u64(leak, "pid"), count = u64(leak, "count"), still_open = u64(leak, "still_open");
    std::string comm = leak.value("comm", "");
    std::string ports;
    for (const auto &p : leak.value("ports", json::array())) ports += (ports.empty() ? "" : ",") + p.dump();
    json &f = findings.emplace_back(json{
        {"id", id},
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
}

// Many sockets in TIME_WAIT, or enough of a client's towards one port to run out of ports.
void time_wait_churn(const json &s, const char *id, json &findings) {
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
        json{{"id", id},
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
}

// Against the segments sent, when the namespaces' counters are known.
void retransmits(const json &s, const char *id, json &findings) {
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
        json{{"id", id},
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
}

// Per service: the remote end the timed-out requests went to.
void read_timeout(const json &s, const char *id, json &findings) {
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
        json{{"id", id},
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

// Per service: the remote end whose idle connections were reused as it closed them.
void keepalive_race(const json &s, const char *id, json &findings) {
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
        json{{"id", id},
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

// Connects that needed SYN retransmits.
void connect_timeout_risk(const json &s, const char *id, json &findings) {
  const json &rt = s["retransmits"];
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
        json{{"id", id},
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

struct FindingRule {
  const char *id;
  void (*add)(const json &tcp_section, const char *id, json &findings);
};
// In the order the report lists them.
constexpr FindingRule kFindingRules[] = {
    {"listen-overflow", listen_overflow}, {"syn-flood", syn_flood},
    {"close-wait-leak", close_wait_leak}, {"time-wait-churn", time_wait_churn},
    {"retransmits", retransmits},         {"read-timeout", read_timeout},
    {"keepalive-race", keepalive_race},   {"connect-timeout-risk", connect_timeout_risk},
};

}  // namespace

void add_findings(const json &report, json &findings) {
  const json &s = report["tcp"];
  if (s.is_null()) return;
  for (const auto &rule : kFindingRules) rule.add(s, rule.id, findings);
}

}  // namespace triage::tcp

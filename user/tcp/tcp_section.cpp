// The tcp section built from the rows of one slice (tcp_rows.h): counters and keyed tables summed
// over its intervals, histograms merged, levels taken at the slice's end with their peak inside
// it, and the spans of the conditions the findings judge (tcp_findings.cpp).
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <tuple>
#include <vector>

#include "core/delta_table.h"
#include "core/histogram.h"
#include "report/finding_span.h"
#include "tcp/tcp_model.h"
#include "tcp/tcp_report.h"
#include "tcp/tcp_rows.h"

namespace triage::tcp {
namespace {

constexpr size_t kFlowsKept = 200;  // retransmitting flows in the section, most first

json merged_hist(const RecordingReader &r, const std::string &name, const char *unit) {
  Log2Histogram total;
  r.for_each_hist("tcp", name, [&](uint64_t, const json &d) { total.merge(Log2Histogram::from_json(d)); });
  return total.to_json(unit);
}

// tcp.spans[key]: when a condition held, only if it did.
void put_span(json &spans, const std::string &key, const ConditionSpan &span) {
  if (!span.held()) return;
  json j = json::object();
  span.stamp(j);
  spans[key] = j;
}

// A gauge's rows in force during the slice, in time order: the one read last before it (a level
// holds until read again) and those inside it.
template <typename Gauge>
std::vector<std::pair<uint64_t, Gauge>> gauges_in_force(const RecordingReader &r, const std::string &name) {
  std::vector<std::pair<uint64_t, Gauge>> rows;
  if (r.slice().from_ns > 0)
    if (auto before = r.gauge_at("tcp", name, r.slice().from_ns)) rows.emplace_back(before->first, before->second.get<Gauge>());
  r.for_each_gauge("tcp", name, [&](uint64_t t, const json &d) { rows.emplace_back(t, d.get<Gauge>()); });
  return rows;
}

// Walks sample times in order, with the gauge row in force at each.
template <typename Gauge, typename Fn>
void at_each_sample(const std::vector<uint64_t> &times, const std::vector<std::pair<uint64_t, Gauge>> &rows, Fn &&fn) {
  size_t next = 0;
  const Gauge *in_force = nullptr;
  for (uint64_t t : times) {
    while (next < rows.size() && rows[next].first <= t) in_force = &rows[next++].second;
    if (in_force) fn(t, *in_force);
  }
}

std::vector<uint64_t> sorted_unique(std::vector<uint64_t> times) {
  std::sort(times.begin(), times.end());
  times.erase(std::unique(times.begin(), times.end()), times.end());
  return times;
}

}  // namespace

std::string listener_span_key(uint64_t netns, const std::string &addr, uint64_t port) {
  return fmt::format("listen-overflow {} {}:{}", netns, addr, port);
}
std::string netns_span_key(uint64_t netns) { return fmt::format("listen-overflow {} unattributed", netns); }

json build_section(const RecordingReader &r, uint64_t start_mono) {
  auto config_json = r.meta("tcp.config");
  if (!config_json) return nullptr;
  const TcpConfig config = config_json->get<TcpConfig>();
  const CounterRow c = read_counters<CounterRow>(r, "tcp", "counters");
  auto seconds_since_start = [&](uint64_t t_ns) {
    return t_ns > start_mono ? static_cast<double>(t_ns - start_mono) / 1e9 : 0.0;
  };
  json spans = json::object();
  json s;
  s["method"] = config.method;

  json transitions = json::array();
  auto transition_table = read_table<TransitionRow>(r, "tcp", "transitions");
  for (const auto &t : transition_table.rows) transitions.push_back(t);
  // An interval with more distinct transitions than it keeps whole: the rest, summed, so the
  // counts still add up to the kernel's.
  if (transition_table.other) transitions.push_back({{"from", "(other)"}, {"to", "(other)"}, {"count", transition_table.other->count}});
  s["transitions"] = transitions;

  json ports = json::array();
  for (const auto &p : read_table<PortRow>(r, "tcp", "ports").rows) {
    ports.push_back({{"netns", p.netns},
                     {"port", p.port},
                     {"role", p.role},
                     {"opens", p.opens},
                     {"established", p.established},
                     {"active_closes", p.active_closes},
                     {"passive_closes", p.passive_closes},
                     {"aborts", p.aborts},
                     {"connect_failures", p.connect_failures},
                     {"connect_avg_us", p.role == "client" && p.established ? p.connect_ns_sum / p.established / 1000 : 0},
                     {"connect_max_us", p.connect_ns_max / 1000},
                     {"closed", p.closed},
                     {"lifetime_avg_ms", p.closed ? p.lifetime_ns_sum / p.closed / 1000000 : 0},
                     {"close_wait_entered", p.close_wait_entered},
                     {"close_wait_left", p.close_wait_left}});
  }
  s["by_port"] = ports;
  s["connect_latency"] = merged_hist(r, "connect_us", "us");
  s["lifetime"] = merged_hist(r, "lifetime_us", "us");

  // Sample times: every interval wrote a sockets row; walks of the connection hash are those
  // that hold close_wait. Gauges are written at sample times too (the last one, at the window's
  // end, even after a too-short interval for a series row).
  // CLOSE_WAIT leaks are judged on the sockets' history up to the slice's end, so that a socket
  // stuck since before the slice counts from its first walk in it (a 5 s slice may hold only 2
  // walks), and are reported within the slice: the walks and CLOSE_WAIT gauges are read from the
  // recording's start, once, and the slice's part taken from them.
  std::vector<uint64_t> sample_times, walk_times, history_walks;
  std::pair<uint64_t, uint64_t> last_walk_count{0, 0};  // (time, CLOSE_WAIT sockets), young ones too
  json socket_series = json::array();
  std::vector<uint64_t> history_samples;  // every sample time up to the slice's end
  r.for_each_series_until("tcp", "sockets", r.slice().to_ns, [&](uint64_t t, const json &d) {
    history_samples.push_back(t);
    if (d.contains("close_wait")) history_walks.push_back(t);
    if (!r.in_slice(t)) return;
    sample_times.push_back(t);
    if (d.contains("close_wait")) walk_times.push_back(t), last_walk_count = {t, d["close_wait"].get<uint64_t>()};
    json row = d;
    row["t"] = seconds_since_start(t);
    socket_series.push_back(row);
  });
  std::vector<std::pair<uint64_t, CloseWaitGauge>> history_rows, close_wait_rows;  // close_wait_rows: in force in the slice
  r.for_each_gauge_until("tcp", "close_wait", r.slice().to_ns, [&](uint64_t t, const json &d) {
    history_rows.emplace_back(t, d.get<CloseWaitGauge>());
    history_walks.push_back(t);
    if (r.in_slice(t)) {
      close_wait_rows.push_back(history_rows.back());
      walk_times.push_back(t);
    }
  });
  // The reading in force at the slice's start, if it was read before.
  if (r.slice().from_ns > 0)
    for (auto it = history_rows.rbegin(); it != history_rows.rend(); ++it)
      if (it->first <= r.slice().from_ns) {
        close_wait_rows.insert(close_wait_rows.begin(), *it);
        break;
      }

  // CLOSE_WAIT: the sockets at the slice's end, and the leaks over the slice (tcp_report.h).
  walk_times = sorted_unique(walk_times);
  uint64_t end_t = walk_times.empty() ? 0 : walk_times.back();
  json close_wait = json::array();
  uint64_t close_wait_listed = 0;
  if (!close_wait_rows.empty() && r.in_slice(end_t)) {
    const auto &[gauge_t, at_end] = close_wait_rows.back();
    close_wait_listed = at_end.total;
    for (const auto &cw : at_end.sockets)
      close_wait.push_back({{"pid", cw.pid},
                            {"comm", cw.comm},
                            {"laddr", cw.laddr},
                            {"lport", cw.lport},
                            {"raddr", cw.raddr},
                            {"rport", cw.rport},
                            {"age_ms", (std::max(end_t, gauge_t) - std::min(cw.entered_ns, gauge_t)) / 1000000},
                            {"age_exact", cw.exact},
                            {"rqueue", cw.rqueue},
                            {"netns", cw.netns}});
  }
  s["close_wait"] = close_wait;
  // The last walk's count, unless the last walk wrote no series row (the window's end after a
  // too-short interval): then what it listed is all that is known.
  s["close_wait_count"] = last_walk_count.first == end_t ? std::max(close_wait_listed, last_walk_count.second)
                                                         : close_wait_listed;
  s["close_wait_total"] = close_wait_listed;
  s["close_wait_leaks"] = close_wait_leaks(sorted_unique(history_walks), history_rows, start_mono, r.slice().from_ns);

  // How often SYN_RECV and CLOSE_WAIT were counted: the walk that finds them is held to a CPU
  // budget (a larger one while a listener is under pressure), so under heavy churn it ran less
  // often than every interval.
  s["connection_walks"] = {{"count", c.connection_walks},
                           {"cpu_ms", static_cast<double>(c.connection_walk_cpu_ns) / 1e6},
                           {"longest_gap_s", static_cast<double>(c.connection_walk_longest_gap_ns) / 1e9},
                           {"interval_s", r.meta("interval_s").value_or(json(1.0))},
                           {"cpu_share", config.connection_walk_cpu_share},
                           {"request", config.connection_walk_request}};
  if (config.connection_walk_pressure_cpu_share > 0)
    s["connection_walks"]["pressure_cpu_share"] = config.connection_walk_pressure_cpu_share;

  // TIME_WAIT: the count from every sample (sockstat), the split by side and port from the listings.
  uint64_t tw_count = 0, tw_peak = 0;
  ConditionSpan tw_span;
  auto time_wait_rows = gauges_in_force<TimeWaitGauge>(r, "time_wait");
  bool counted = false;
  for (const auto &row : socket_series) {
    uint64_t n = row.value("time_wait", uint64_t{0});
    tw_count = n, counted = true;
    tw_peak = std::max(tw_peak, n);
    tw_span.observe(row["t"].get<double>(), static_cast<double>(n), n >= kTimeWaitChurn);
  }
  uint64_t tw_server = 0, tw_client = 0;
  TimeWaitGauge tw_end;
  for (const auto &[t, g] : time_wait_rows) {
    tw_server = std::max(tw_server, g.server);
    tw_client = std::max(tw_client, g.client);
    tw_end = g;
    uint64_t worst_client = 0;
    for (const auto &p : g.by_port)
      if (p.side == "client") worst_client = std::max(worst_client, p.count);
    if (r.in_slice(t))
      tw_span.observe(seconds_since_start(t), static_cast<double>(g.count), worst_client >= kTimeWaitPortExhaustion);
  }
  if (!counted) tw_count = tw_end.count;
  tw_peak = std::max({tw_peak, tw_count, r.in_slice(time_wait_rows.empty() ? 0 : time_wait_rows.back().first) ? tw_end.count : 0});
  json tw_ports = json::array();
  for (const auto &p : tw_end.by_port) tw_ports.push_back(p);
  // Who closed first over the slice: TIME_WAIT lasts 60 s, so the largest counts stand for it.
  s["time_wait"] = {{"count", tw_count},
                    {"peak", tw_peak},
                    {"server", tw_end.server},
                    {"client", tw_end.client},
                    {"by_port", tw_ports},
                    {"active_closer", active_closer(tw_server, tw_client)}};
  put_span(spans, "time-wait-churn", tw_span);

  json rates = json::array();
  ConditionSpan retrans_span, syn_span;
  r.for_each_series("tcp", "rates", [&](uint64_t t, const json &d) {
    json row = d;
    double t_s = seconds_since_start(t);
    row["t"] = t_s;
    rates.push_back(row);
    const auto rate = d.get<RateRow>();
    retrans_span.observe(t_s, static_cast<double>(rate.retrans_segs), rate.retrans_segs > 0);
    syn_span.observe(t_s, static_cast<double>(rate.syn_retrans), rate.syn_retrans > 0);
  });
  put_span(spans, "retransmits", retrans_span);
  put_span(spans, "connect-timeout-risk", syn_span);

  auto flow_table = read_table<FlowRow>(r, "tcp", "flows");
  json flows = json::array();
  for (size_t i = 0; i < flow_table.rows.size() && i < kFlowsKept; i++) {
    const auto &f = flow_table.rows[i];
    flows.push_back({{"netns", f.netns},         {"saddr", f.saddr},         {"sport", f.sport},
                     {"daddr", f.daddr},         {"dport", f.dport},         {"count", f.count},
                     {"syn_count", f.syn_count}, {"state", f.state},         {"max_backoff", f.max_backoff},
                     {"max_rto_ms", f.max_rto_ms}, {"srtt_us", f.srtt_us},  {"first_ns", f.first_ns},
                     {"last_ns", f.last_ns}});
  }
  s["retransmits"] = {{"count", c.retrans_segs},
                      {"syn_count", c.syn_retrans + c.synack_retrans},
                      {"syn", c.syn_retrans},
                      {"synack", c.synack_retrans},
                      {"events", c.retrans_events},
                      {"failed", c.retrans_failed_segs},
                      {"rto_ms", merged_hist(r, "rto_ms", "ms")},
                      {"srtt_us", merged_hist(r, "srtt_us", "us")},
                      {"flows", flows},
                      {"flow_count", flow_table.key_count()},
                      {"flows_total", flow_table.key_count()}};

  // Listeners: levels at each sample from the gauge in force, counts from the interval rows.
  struct ListenerView {
    ListenerLevel last;           // the latest level seen in the slice
    bool at_end = false;          // listening at the slice's end
    uint32_t backlog_peak = 0, syn_recv_peak = 0, syn_recv_sources_peak = 0;
    uint64_t samples = 0, full_samples = 0;
    Log2Histogram fill;
    ListenerCountRow counts;
    ConditionSpan overflow_span;
  };
  std::map<std::tuple<uint32_t, std::string, uint16_t>, ListenerView> listeners;
  auto listener_rows = gauges_in_force<ListenersGauge>(r, "listeners");
  std::vector<uint64_t> listener_times = sample_times;
  for (const auto &[t, g] : listener_rows)
    if (r.in_slice(t)) listener_times.push_back(t);
  listener_times = sorted_unique(listener_times);
  ConditionSpan syn_flood_span;
  at_each_sample(listener_times, listener_rows, [&](uint64_t t, const ListenersGauge &g) {
    uint32_t syn_recv_max = 0;
    for (const auto &level : g.listeners) {
      auto &v = listeners[level.key()];
      v.last = level;
      v.backlog_peak = std::max(v.backlog_peak, level.backlog);
      v.syn_recv_peak = std::max(v.syn_recv_peak, level.syn_recv);
      v.syn_recv_sources_peak = std::max(v.syn_recv_sources_peak, level.syn_recv_sources);
      v.samples++;
      v.full_samples += level.full;
      v.fill.add(level.backlog);
      syn_recv_max = std::max(syn_recv_max, level.syn_recv);
    }
    syn_flood_span.observe(seconds_since_start(t), syn_recv_max, syn_recv_max >= kSynRecvFloodPeak);
  });
  if (!listener_rows.empty())
    for (const auto &level : listener_rows.back().second.listeners) {
      auto &v = listeners[level.key()];
      v.last = level;
      v.at_end = true;
    }
  for (const auto &row : read_table<ListenerCountRow>(r, "tcp", "listener_counts").rows) {
    auto &v = listeners[row.key()];
    v.counts = row;
    if (v.last.addr.empty()) std::tie(v.last.netns, v.last.addr, v.last.port) = row.key();
  }
  for_each_interval<ListenerCountRow>(r, "tcp", "listener_counts", [&](uint64_t t, const IntervalRows<ListenerCountRow> &interval) {
    for (const auto &row : interval.rows) {
      listeners[row.key()].overflow_span.observe(seconds_since_start(t), static_cast<double>(row.overflows),
                                                 row.overflows > 0);
    }
  });
  json listener_json = json::array();
  for (const auto &[key, v] : listeners) {
    const auto &l = v.last;
    listener_json.push_back({{"addr", l.addr},
                             {"port", l.port},
                             {"backlog_max", l.backlog_max},
                             {"backlog", v.at_end ? l.backlog : 0},
                             {"backlog_peak", v.backlog_peak},
                             {"syn_recv", v.at_end ? l.syn_recv : 0},
                             {"syn_recv_peak", v.syn_recv_peak},
                             {"syn_recv_sources_peak", v.syn_recv_sources_peak},
                             {"samples", v.samples},
                             {"full_samples", v.full_samples},
                             {"fill", v.fill.to_json("sockets")},
                             {"overflows", v.counts.overflows},
                             {"overflow_drops_seen", v.counts.overflow_drops_seen},
                             {"syn_drops", v.counts.syn_drops},
                             {"syncookies", v.counts.syncookies},
                             {"pid", l.pid},
                             {"comm", l.comm},
                             {"netns", l.netns},
                             {"netns_name", l.netns_name}});
    put_span(spans, listener_span_key(l.netns, l.addr, l.port), v.overflow_span);
  }
  s["listeners"] = listener_json;

  // Per namespace: its own counters over the slice, and what no single listener could be shown to own.
  std::map<uint32_t, ConditionSpan> unattributed_spans;
  for_each_interval<NetnsRow>(r, "tcp", "netstat", [&](uint64_t t, const IntervalRows<NetnsRow> &interval) {
    for (const auto &row : interval.rows) {
      double t_s = seconds_since_start(t);
      unattributed_spans[row.netns].observe(t_s, static_cast<double>(row.unattributed_overflows),
                                            row.unattributed_overflows > 0);
      uint64_t syn_queue = row.SyncookiesSent + row.TCPReqQFullDrop;
      syn_flood_span.observe(t_s, static_cast<double>(syn_queue), syn_queue > 0);
    }
  });
  auto netns_table = read_table<NetnsRow>(r, "tcp", "netstat");
  std::sort(netns_table.rows.begin(), netns_table.rows.end(),
            [](const NetnsRow &a, const NetnsRow &b) { return a.netns < b.netns; });
  json netstat = json::array();
  for (const auto &n : netns_table.rows) {
    json delta = json::object();
    for (const auto &field : kNetstatFields)
      if (uint64_t v = n.*field.member) delta[field.name] = v;
    if (delta.empty() && !n.unattributed_overflows && !n.unattributed_syn_drops) continue;
    netstat.push_back({{"netns", n.netns},
                       {"name", n.name},
                       {"pid", n.pid},
                       {"delta", delta},
                       {"unattributed_overflows", n.unattributed_overflows},
                       {"overflows_several_full", n.overflows_several_full},
                       {"overflows_no_listener", n.overflows_no_listener},
                       {"unattributed_syn_drops", n.unattributed_syn_drops},
                       {"unattributed_syncookies", n.unattributed_syncookies}});
    put_span(spans, netns_span_key(n.netns), unattributed_spans[n.netns]);
  }
  s["netstat"] = netstat;
  put_span(spans, "syn-flood", syn_flood_span);

  json resets = json::array();
  r.for_each_event("tcp", "", [&](uint64_t t, const std::string &kind, const json &d) {
    json row = d;
    row["t"] = seconds_since_start(t);
    row["t_ns"] = t;
    row["kind"] = kind;
    resets.push_back(row);
  });
  s["resets"] = {{"sent", c.resets_sent}, {"received", c.resets_received}, {"events", resets}, {"events_total", resets.size()}};
  classify_resets(s, resets);
  // Listeners under pressure, sample by sample, for the server-saturated and server-stall
  // findings (report/incidents.cpp): each sample with the one before it (`since_t`), since its
  // figures compare the two.
  std::map<std::tuple<uint32_t, std::string, uint16_t>, json> servers;
  // What the server's own code closed per interval (BPF, every connection, also those opened and
  // closed between two walks): it closed first, or closed what its peer had closed. A stalled
  // process closes nothing.
  std::map<std::pair<uint32_t, uint16_t>, std::vector<std::pair<uint64_t, uint64_t>>> app_closes;
  for_each_interval<PortRow>(r, "tcp", "ports", [&](uint64_t t, const IntervalRows<PortRow> &interval) {
    for (const auto &row : interval.rows)
      if (row.role == "server" && (row.active_closes || row.close_wait_left))
        app_closes[{row.netns, row.port}].emplace_back(t, row.active_closes + row.close_wait_left);
  });
  auto closes_between = [&](uint32_t netns, uint16_t port, uint64_t from_ns, uint64_t to_ns) {
    uint64_t n = 0;
    auto it = app_closes.find({netns, port});
    if (it != app_closes.end())
      for (const auto &[t, count] : it->second)
        if (t > from_ns && t <= to_ns) n += count;
    return n;
  };
  r.for_each_gauge("tcp", "servers", [&](uint64_t t, const json &d) {
    if (!r.in_slice(t)) return;
    double t_s = seconds_since_start(t);
    auto before = std::lower_bound(history_samples.begin(), history_samples.end(), t);
    double since = before == history_samples.begin() ? t_s - 1.0 : seconds_since_start(*std::prev(before));
    // The ports table is written at the same interval ends, read a little apart.
    uint64_t since_ns = before == history_samples.begin() ? t - std::min<uint64_t>(t, 1'000'000'000) : *std::prev(before);
    constexpr uint64_t kSlackNs = 300'000'000;
    for (const auto &level : d.get<ServersGauge>().servers) {
      json &server = servers[{level.netns, level.addr, level.port}];
      if (server.is_null())
        server = {{"netns", level.netns}, {"addr", level.addr}, {"port", level.port}, {"samples", json::array()}};
      server["pids"] = level.pids;
      server["comm"] = level.comm;
      server["samples"].push_back({{"t", t_s},
                                   {"since_t", since},
                                   {"backlog", level.backlog},
                                   {"backlog_max", level.backlog_max},
                                   {"full", level.full},
                                   {"overflows", level.overflows},
                                   {"compared", level.compared},
                                   {"accepted_new", level.accepted_new},
                                   {"unread_sockets", level.unread_sockets},
                                   {"unread_stuck", level.unread_stuck},
                                   {"read_progress", level.read_progress},
                                   {"unread_bytes", level.unread_bytes},
                                   {"app_closes", closes_between(level.netns, level.port, since_ns + kSlackNs, t + kSlackNs)}});
    }
  });
  json server_json = json::array();
  for (auto &[key, server] : servers) server_json.push_back(std::move(server));
  s["servers"] = server_json;
  s["socket_series"] = socket_series;
  s["rate_series"] = rates;
  s["hz"] = config.hz;
  s["lost_events"] = c.events_lost;
  s["events_produced"] = c.events_produced;
  s["untracked_sockets"] = c.sock_map_full;
  s["dropped_ports"] = c.port_map_full;
  s["dropped_flows"] = c.flow_map_full;
  s["recursion_misses"] = c.recursion_misses;
  s["counter_resets"] = c.counter_resets;
  s["spans"] = spans;
  return s;
}

json close_wait_leaks(const std::vector<uint64_t> &walk_times,
                      const std::vector<std::pair<uint64_t, CloseWaitGauge>> &rows, uint64_t start_mono,
                      uint64_t slice_from_ns) {
  auto seconds_since_start = [&](uint64_t t_ns) {
    return t_ns > start_mono ? static_cast<double>(t_ns - start_mono) / 1e9 : 0.0;
  };
  using Key = std::tuple<uint32_t, std::string, uint16_t, std::string, uint16_t>;
  struct Track {
    CloseWaitSocket socket;        // the latest sighting (owner kept from while it was known)
    uint64_t run = 0;              // consecutive walks it was seen in, up to now
    std::vector<uint64_t> seen;    // walk times of the current run
    bool leaked = false;
    std::vector<uint64_t> leaked_at;  // walk times of the runs that qualified
  };
  std::map<Key, Track> tracks;
  std::set<Key> at_end;
  std::vector<uint64_t> times = walk_times;
  size_t walk = 0;
  at_each_sample(times, rows, [&](uint64_t t, const CloseWaitGauge &g) {
    walk++;
    std::set<Key> now;
    for (const auto &cw : g.sockets) {
      Key key = cw.key();
      now.insert(key);
      auto &tr = tracks[key];
      uint32_t known_pid = tr.socket.pid;
      std::string known_comm = tr.socket.comm;
      tr.socket = cw;
      if (!cw.pid && known_pid) tr.socket.pid = known_pid, tr.socket.comm = known_comm;  // the owner while alive
      tr.run++;
      tr.seen.push_back(t);
      bool qualifies = tr.run >= kCloseWaitLeakSamples && t - std::min(t, cw.entered_ns) >= kCloseWaitLeakAgeMs * 1000000;
      if (qualifies && !tr.leaked) {
        tr.leaked = true;
        for (auto it = tr.seen.begin(); it + 1 < tr.seen.end(); ++it)  // the run so far counts, within the slice
          if (*it > slice_from_ns) tr.leaked_at.push_back(*it);
      }
      if (tr.leaked && t > slice_from_ns) tr.leaked_at.push_back(t);
    }
    for (auto &[key, tr] : tracks)
      if (!now.count(key)) {
        tr.run = 0;
        tr.seen.clear();
        tr.leaked = false;  // a later run must qualify again
      }
    at_end = std::move(now);
  });
  // Per owner: the sockets, their ports, and when any of them was stuck.
  struct Owner {
    std::set<Key> sockets;
    std::set<uint16_t> ports, peer_ports;
    uint64_t oldest_ns = 0, still_open = 0;
    uint64_t entered_ns = UINT64_MAX;  // the earliest of them into CLOSE_WAIT
    uint32_t netns = 0;
    std::map<uint64_t, uint64_t> stuck_at;  // walk time -> sockets stuck then
  };
  std::map<std::pair<uint32_t, std::string>, Owner> owners;
  for (const auto &[key, tr] : tracks) {
    if (tr.leaked_at.empty()) continue;
    auto &o = owners[{tr.socket.pid, tr.socket.pid ? tr.socket.comm : ""}];
    o.sockets.insert(key);
    o.ports.insert(tr.socket.lport);
    o.peer_ports.insert(tr.socket.rport);
    o.netns = tr.socket.netns;
    o.oldest_ns = std::max(o.oldest_ns, tr.leaked_at.back() - std::min(tr.leaked_at.back(), tr.socket.entered_ns));
    o.still_open += at_end.count(key);
    o.entered_ns = std::min(o.entered_ns, tr.socket.entered_ns);
    for (uint64_t t : tr.leaked_at) o.stuck_at[t]++;
  }
  json out = json::array();
  for (const auto &[owner, o] : owners) {
    ConditionSpan span;
    for (const auto &[t, n] : o.stuck_at) span.observe(seconds_since_start(t), static_cast<double>(n), true);
    json row = {{"pid", owner.first},
                {"comm", owner.second},
                {"netns", o.netns},
                {"count", o.sockets.size()},
                {"ports", o.ports},
                {"peer_ports", o.peer_ports},
                {"oldest_ms", o.oldest_ns / 1000000},
                {"still_open", o.still_open},
                {"peak", static_cast<uint64_t>(span.peak())}};
    span.stamp(row);
    // Stuck since they came into CLOSE_WAIT, not since a walk first listed them (a second later
    // at the least): from the kernel's stamp of the peer's FIN, within the slice and the window.
    uint64_t since = std::max({o.entered_ns, slice_from_ns, start_mono});
    double since_s = std::round(seconds_since_start(since) * 100) / 100;
    if (since_s < row["first_t"].get<double>()) row["first_t"] = since_s;
    out.push_back(row);
  }
  return out;
}

}  // namespace triage::tcp

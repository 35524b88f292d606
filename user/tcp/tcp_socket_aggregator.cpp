#include "tcp/tcp_socket_aggregator.h"

#include <algorithm>
#include <set>

#include <fmt/format.h>

#include "tcp/tcp_abi.h"

namespace triage::tcp {

void to_json(nlohmann::json &j, const SocketsRow &row) {
  j = {{"dt_s", row.dt_s}, {"time_wait", row.time_wait}, {"accept_backlog", row.accept_backlog}};
  if (row.close_wait) j["close_wait"] = *row.close_wait;
  if (row.syn_recv) j["syn_recv"] = *row.syn_recv;
}

bool SocketAggregator::attach(const std::vector<NetnsSnapshot> &namespaces, uint64_t now_ns, uint64_t walk_cpu_ns,
                              std::string &error) {
  walks_.walked(now_ns, walk_cpu_ns);
  for (const auto &ns : namespaces) {
    if (!ns.error.empty() && error.empty()) error = fmt::format("netns {}: {}", ns.inode, ns.error);
    auto &agg = netns_[ns.inode];
    agg.row.netns = ns.inode;
    agg.row.name = ns.name;
    agg.row.pid = ns.pid;
    agg.counters.last = ns.counters;  // the baseline: what came before the window is not counted
  }
  in_use_seen_ = 0;
  for (const auto &ns : namespaces) in_use_seen_ += ns.in_use_count;
  bool self_ok = !namespaces.empty() && namespaces.front().error.empty();
  one_request_ = self_ok && namespaces.front().one_request;
  return self_ok;
}

SnapshotScope SocketAggregator::scope(uint64_t now_ns, bool last) const {
  bool walk = last || walks_.due(now_ns, pressure_);
  bool list_time_wait = walk && (last || time_wait_seen_ < kTimeWaitListAlways ||
                                 now_ns - time_wait_listed_ns_ >= kTimeWaitListPeriodNs);
  SnapshotScope scope{walk, list_time_wait};
  scope.established = walk && (pressure_ || in_use_seen_ < kEstablishedListAlways);
  return scope;
}

void SocketAggregator::resolve_owners(const std::vector<uint64_t> &inodes) {
  if (inodes.empty()) return;
  for (auto &[inode, owner] : lookup_owners_(inodes)) owners_[inode] = owner;
  for (uint64_t inode : inodes) owners_.try_emplace(inode);  // held by no process (orphaned): do not rescan
}

SocketRows SocketAggregator::sample(const SocketInterval &interval, const ListenDrops &drops, CounterDeltas &deltas) {
  const uint64_t now_ns = interval.now_ns;
  const auto &namespaces = interval.namespaces;
  const bool walk = interval.scope.connections;
  established_walk_ = walk && interval.scope.established;
  if (walk) {
    walks_.walked(now_ns, interval.walk_cpu_ns);
    if (!namespaces.empty() && namespaces.front().error.empty()) one_request_ = namespaces.front().one_request;
  }

  std::vector<uint64_t> unknown;
  for (const auto &ns : namespaces)
    for (const auto &s : ns.sockets)
      if (s.state == TCP_ST_LISTEN && s.inode && !owners_.count(s.inode)) unknown.push_back(s.inode);
  resolve_owners(unknown);

  uint64_t syn_recv_total = 0;
  CloseWaitList close_wait_sockets;
  ListenersGauge levels;
  ServersGauge servers;
  for (const auto &ns : namespaces) {
    if (!ns.error.empty() && ns.counters.empty()) continue;
    aggregate_netns(ns, drops, deltas, levels, syn_recv_total, close_wait_sockets, servers);
  }

  SocketRows rows;
  // Only the listeners under pressure; an empty row once it ends, so that a reader of the rows
  // knows it ended.
  std::erase_if(servers.servers, [](const ServerLevel &l) {
    return !l.backlog && !l.overflows && !l.unread_sockets && !l.read_progress;
  });
  pressure_ = !servers.servers.empty();
  if (pressure_ || servers_written_nonempty_) {
    servers_written_nonempty_ = pressure_;
    rows.servers = std::move(servers);
  }
  for (const auto &[inode, agg] : netns_) rows.netstat.push_back(agg.row);
  for (const auto &[key, l] : listeners_) rows.listener_counts.push_back(l.counts);
  if (interval.last || levels != listeners_written_) {
    rows.listeners = levels;
    listeners_written_ = levels;
  }

  if (walk) {
    CloseWaitGauge gauge = close_wait_gauge(now_ns, close_wait_sockets);
    if (interval.last || gauge != close_wait_written_) {
      rows.close_wait = gauge;
      close_wait_written_ = std::move(gauge);
    }
  }

  bool listed = interval.scope.time_wait &&
                std::all_of(namespaces.begin(), namespaces.end(),
                            [](const NetnsSnapshot &ns) { return ns.time_wait_listed || !ns.error.empty(); });
  uint64_t time_wait_count = 0;
  for (const auto &ns : namespaces) time_wait_count += ns.time_wait_count;
  if (listed) {
    TimeWaitGauge tw = time_wait_summary(namespaces);
    time_wait_listed_ns_ = now_ns;
    if (interval.last || tw != time_wait_written_) {
      rows.time_wait = tw;
      time_wait_written_ = std::move(tw);
    }
  }
  time_wait_seen_ = time_wait_count;
  in_use_seen_ = 0;
  for (const auto &ns : namespaces) in_use_seen_ += ns.in_use_count;

  if (interval.full_interval) {
    SocketsRow row{interval.dt_s, time_wait_count};
    for (const auto &l : levels.listeners) row.accept_backlog += l.backlog;
    if (walk) {
      row.close_wait = close_wait_sockets.size();
      row.syn_recv = syn_recv_total;
    }
    rows.sockets = row;
  }
  if (!first_sample_ns_) first_sample_ns_ = now_ns;
  return rows;
}

void SocketAggregator::aggregate_netns(const NetnsSnapshot &ns, const ListenDrops &drops, CounterDeltas &deltas,
                                       ListenersGauge &levels, uint64_t &syn_recv_total, CloseWaitList &close_wait,
                                       ServersGauge &servers) {
  auto &agg = netns_[ns.inode];  // new here: born inside the window, its counters count from 0
  agg.row.netns = ns.inode;
  if (!ns.name.empty()) agg.row.name = ns.name;
  if (ns.pid) agg.row.pid = ns.pid;
  auto interval_delta = agg.counters.advance(ns.counters, deltas);
  auto delta_of = [&](const char *key) {
    auto it = interval_delta.find(key);
    return it == interval_delta.end() ? uint64_t{0} : it->second;
  };
  for (const auto &field : kNetstatFields) agg.row.*field.member += delta_of(field.name);

  std::map<std::pair<std::string, uint16_t>, uint32_t> syn_recv_by_port;
  std::map<uint16_t, std::set<std::string>> syn_recv_sources;  // by local port
  bool established_listed = false;
  for (const auto &s : ns.sockets) {  // none unless walked
    if (s.state == TCP_ST_SYN_RECV || s.state == TCP_ST_NEW_SYN_RECV) {
      syn_recv_by_port[{s.laddr, s.lport}]++;
      syn_recv_sources[s.lport].insert(s.raddr);
      syn_recv_total++;
    }
    established_listed |= s.state == TCP_ST_ESTABLISHED;
  }
  // The walk asked for ESTABLISHED sockets (none may exist: a stalled server's clients may all
  // have given up); it did when it was under pressure and walked.
  established_listed |= ns.connections_walked && established_walk_;
  // The listeners that could own this interval's counters: those listening now, and those that
  // were at the last snapshot and closed since (a server stopped right after its overflows).
  // SO_REUSEPORT sockets of one address and port are one row, and one candidate.
  struct Listening {
    const DiagSocket *socket;
    uint32_t queued = 0;  // summed over a reuseport group's sockets
    bool full = false;    // any of them
  };
  std::map<ListenerAgg *, Listening> listening;
  for (const auto &s : ns.sockets) {
    if (s.state != TCP_ST_LISTEN) continue;
    auto &l = listeners_[{ns.inode, s.laddr, s.lport}];
    auto [it, fresh] = listening.try_emplace(&l, Listening{&s});
    it->second.queued += s.rqueue;
    // The kernel refuses a connection once the queue holds more than the backlog.
    it->second.full |= s.rqueue > s.wqueue || (s.wqueue > 0 && s.rqueue >= s.wqueue);
  }
  std::vector<ListenerAgg *> here;
  std::vector<ListenerSignal> signals;
  for (auto &[agg_of, now] : listening) {
    ListenerAgg &l = *agg_of;
    const DiagSocket &s = *now.socket;
    l.counts.netns = ns.inode;
    l.counts.addr = s.laddr;
    l.counts.port = s.lport;
    if (ns.connections_walked) {  // else the last walk's count stands
      uint32_t syn_recv = 0;
      for (const auto &[key, n] : syn_recv_by_port)
        if (key.second == s.lport && (key.first == s.laddr || s.laddr == "0.0.0.0" || s.laddr == "::"))
          syn_recv += n;
      l.syn_recv = syn_recv;
      auto sources = syn_recv_sources.find(s.lport);
      l.syn_recv_sources = sources == syn_recv_sources.end() ? 0 : static_cast<uint32_t>(sources->second.size());
    }
    l.ever_full |= now.full;
    ListenerSignal sig;
    sig.queue_full = now.full || l.was_full;
    sig.syn_recv = l.syn_recv;
    l.was_full = now.full;
    here.push_back(&l);
    signals.push_back(sig);
    const auto &owner = owners_[s.inode];
    levels.listeners.push_back({ns.inode, agg.row.name, s.laddr, s.lport, now.queued, s.wqueue, l.syn_recv, now.full,
                                owner.pid, owner.comm, l.syn_recv_sources});
    ServerLevel server{ns.inode, s.laddr, s.lport, owner.pids, owner.comm, now.queued, s.wqueue, now.full};
    if (server.pids.empty() && owner.pid) server.pids = {owner.pid};
    if (established_listed) {
      // Its connections, accepted (an inode: a file holds it) or still queued (none).
      std::unordered_map<uint64_t, uint32_t> unread;
      for (const auto &c : ns.sockets) {
        if ((c.state != TCP_ST_ESTABLISHED && c.state != TCP_ST_CLOSE_WAIT) || !c.inode || c.lport != s.lport) continue;
        if (c.laddr != s.laddr && s.laddr != "0.0.0.0" && s.laddr != "::") continue;
        unread[c.inode] = c.rqueue;
        if (c.rqueue) server.unread_sockets++, server.unread_bytes += c.rqueue;
        if (!l.accepted_listed) continue;
        auto before = l.accepted_unread.find(c.inode);
        if (before == l.accepted_unread.end()) server.accepted_new++;
        else if (before->second && c.rqueue >= before->second) server.unread_stuck++;
        else if (before->second && c.rqueue < before->second) server.read_progress++;
      }
      server.compared = l.accepted_listed;
      l.accepted_unread = std::move(unread);
    } else {
      l.accepted_unread.clear();
    }
    l.accepted_listed = established_listed;
    servers.servers.push_back(std::move(server));
  }
  for (auto &[key, l] : listeners_)
    if (std::get<0>(key) == ns.inode && l.present && !listening.count(&l)) {
      ListenerSignal sig;
      sig.queue_full = l.was_full;
      sig.syn_recv = l.syn_recv;
      l.was_full = false;
      here.push_back(&l);
      signals.push_back(sig);
    }
  for (size_t i = 0; i < here.size(); i++) {
    ListenerAgg &l = *here[i];
    auto seen = drops.find({ns.inode, l.counts.port});
    uint64_t dropped = seen == drops.end() ? 0 : seen->second;
    signals[i].overflow_drops = deltas(l.drops_seen_last, dropped);
    signals[i].ever_full = l.ever_full;
    l.counts.overflow_drops_seen += signals[i].overflow_drops;
    l.drops_seen_last = dropped;
    l.present = listening.count(&l) > 0;
  }
  Attribution overflows = attribute_overflows(delta_of("ListenOverflows"), signals);
  agg.row.unattributed_overflows += overflows.unattributed;
  if (overflows.several_full) agg.row.overflows_several_full += overflows.unattributed;
  if (overflows.no_listener) agg.row.overflows_no_listener += overflows.unattributed;
  Attribution syn_drops = attribute_syn_queue(delta_of("TCPReqQFullDrop"), signals);
  agg.row.unattributed_syn_drops += syn_drops.unattributed;
  Attribution cookies = attribute_syn_queue(delta_of("SyncookiesSent"), signals);
  agg.row.unattributed_syncookies += cookies.unattributed;
  for (size_t i = 0; i < here.size(); i++) {
    here[i]->counts.overflows += overflows.shares[i];
    here[i]->counts.syn_drops += syn_drops.shares[i];
    here[i]->counts.syncookies += cookies.shares[i];
  }
  for (auto &server : servers.servers) {
    if (server.netns != ns.inode) continue;
    auto &l = listeners_[{ns.inode, server.addr, server.port}];
    server.overflows = l.counts.overflows - l.overflows_at_last_sample;
    l.overflows_at_last_sample = l.counts.overflows;
  }

  for (const auto &s : ns.sockets)
    if (s.state == TCP_ST_CLOSE_WAIT)
      close_wait.push_back({FlowTuple{ns.inode, s.laddr, s.lport, s.raddr, s.rport}, &s});
}

CloseWaitGauge SocketAggregator::close_wait_gauge(uint64_t now_ns, const CloseWaitList &sockets) {
  // When the peer's FIN arrived, from the kernel's stamp of the last ACK the socket accepted (the
  // FIN carried one, to a jiffy; it holds for sockets that got there before the window too). An
  // ACK after the FIN (this side sent data since) moves that stamp later, and the socket was in
  // CLOSE_WAIT when first seen, so the earlier of the two is the entry time. Without tcp_info:
  // the first sighting. Fixed at the first sighting, so that an unchanged socket is an unchanged
  // row (gauges are written when they change).
  std::map<FlowTuple, std::pair<uint64_t, bool>> entered_now;
  for (const auto &[key, s] : sockets) {
    auto known = close_wait_entered_.find(key);
    if (known != close_wait_entered_.end()) {
      entered_now[key] = known->second;
      continue;
    }
    bool exact = s->last_ack_recv_ms >= 0;
    uint64_t entered = now_ns;
    if (exact) {
      uint64_t ago_ns = static_cast<uint64_t>(s->last_ack_recv_ms) * 1000000;
      entered = now_ns > ago_ns ? now_ns - ago_ns : 0;
    } else if (!first_sample_ns_) {
      entered = window_start_ns_;  // seen in CLOSE_WAIT at the first sample: there before the window
    }
    entered_now[key] = {entered, exact};
  }
  close_wait_entered_ = std::move(entered_now);

  struct Aged {
    const FlowTuple *key;
    const DiagSocket *socket;
    uint64_t entered_ns;
    bool exact;
  };
  std::vector<Aged> aged;
  for (const auto &[key, s] : sockets) {
    auto [entered, exact] = close_wait_entered_.at(key);
    // Younger ones are closes in progress: under churn thousands pass in microseconds.
    if (now_ns - std::min(entered, now_ns) >= kCloseWaitListedAfterNs) aged.push_back({&key, s, entered, exact});
  }
  // The oldest are the leaks: they are the ones kept.
  std::sort(aged.begin(), aged.end(), [](const Aged &a, const Aged &b) { return a.entered_ns < b.entered_ns; });
  CloseWaitGauge gauge;
  gauge.total = aged.size();
  if (aged.size() > kCloseWaitKept) aged.resize(kCloseWaitKept);
  std::vector<uint64_t> unknown;
  for (const auto &a : aged)
    if (a.socket->inode && !owners_.count(a.socket->inode)) unknown.push_back(a.socket->inode);
  resolve_owners(unknown);
  for (const auto &a : aged) {
    auto owner = owners_.find(a.socket->inode);
    bool known_owner = owner != owners_.end();
    const auto &[netns, laddr, lport, raddr, rport] = *a.key;
    gauge.sockets.push_back({netns, laddr, lport, raddr, rport, a.entered_ns, a.exact, a.socket->rqueue,
                             known_owner ? owner->second.pid : 0, known_owner ? owner->second.comm : ""});
  }
  return gauge;
}

}  // namespace triage::tcp

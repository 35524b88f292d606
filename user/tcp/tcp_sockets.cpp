#include "tcp/tcp_sockets.h"

#include "core/clock.h"

namespace triage::tcp {

bool SocketSampler::attach(std::string &error) {
  auto namespaces = namespace_finder_.find(monotonic_ns());
  uint64_t cpu_ns = snapshot_namespaces(namespaces);
  return aggregator_.attach(namespaces, monotonic_ns(), cpu_ns, error);
}

void SocketSampler::sample(uint64_t now_ns, double dt_s, bool full_interval, bool last, const ListenDrops &drops,
                           CounterDeltas &deltas, RecordingWriter &out) {
  SocketInterval interval{now_ns, dt_s, full_interval, last, aggregator_.scope(now_ns, last)};
  interval.namespaces = namespace_finder_.find(now_ns);
  interval.walk_cpu_ns = snapshot_namespaces(interval.namespaces, interval.scope);
  SocketRows rows = aggregator_.sample(interval, drops, deltas);

  netstat_.write(now_ns, rows.netstat, out);
  listener_counts_.write(now_ns, rows.listener_counts, out);
  if (rows.listeners) out.add_gauge(now_ns, "tcp", "listeners", *rows.listeners);
  if (rows.close_wait) out.add_gauge(now_ns, "tcp", "close_wait", *rows.close_wait);
  if (rows.time_wait) out.add_gauge(now_ns, "tcp", "time_wait", *rows.time_wait);
  if (rows.sockets) out.add_series(now_ns, "tcp", "sockets", *rows.sockets);
  if (rows.servers) out.add_gauge(now_ns, "tcp", "servers", *rows.servers);
}

}  // namespace triage::tcp

#include "block/block_aggregate.h"

#include "core/compact_json.h"
#include "core/family.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>

namespace triage::block {
namespace {

Log2Histogram merged_latency(const DeviceTotals &d, std::initializer_list<int> ops) {
  Log2Histogram h;
  for (int op : ops) h.merge(d.ops[op].latency_us);
  return h;
}

}  // namespace

const char *op_name(uint32_t op) {
  switch (op) {
    case BLOCK_OP_READ: return "read";
    case BLOCK_OP_WRITE: return "write";
    case BLOCK_OP_FLUSH: return "flush";
    case BLOCK_OP_DISCARD: return "discard";
    default: return "other";
  }
}

std::string dev_string(uint32_t dev) { return fmt::format("{}:{}", dev >> 20, dev & 0xfffff); }

void OpTotals::merge(const block_stats &k) {
  count += k.count;
  bytes += k.bytes;
  latency_us.merge(k.latency);
  queue_us.merge(k.queue_latency);
  size_bytes.merge(k.size);
}

void add_cached_processes(std::vector<ProcessDeviceTotals> &processes, const std::vector<block_proc_cache> &caches) {
  std::map<std::pair<uint32_t, uint32_t>, size_t> row_of;
  for (size_t i = 0; i < processes.size(); i++) row_of.emplace(std::pair{processes[i].tgid, processes[i].dev}, i);
  for (const auto &cache : caches) {
    for (const auto &e : cache.entries) {
      if (e.stats.count == 0) continue;
      auto [it, added] = row_of.try_emplace(std::pair{e.key.tgid, e.key.dev}, processes.size());
      if (added)
        processes.push_back({e.key.tgid, e.key.dev, std::string(e.stats.comm, strnlen(e.stats.comm, sizeof e.stats.comm)),
                             0, 0, 0});
      ProcessDeviceTotals &row = processes[it->second];
      row.total_ns += e.stats.total_ns;
      row.count += e.stats.count;
      row.bytes += e.stats.bytes;
    }
  }
}

void BlockSampler::sample(uint64_t now_ns, const SampleInput &in, RecordingWriter &out) {
  write_config({in.method, in.outlier_threshold_ns}, out);
  double dt_s = now_ns > last_t_ns_ ? static_cast<double>(now_ns - last_t_ns_) / 1e9 : 0;
  // A sliver of an interval (kMinSeriesIntervalS) would show as a spike in IOPS: no timeline row.
  bool timeline_row = dt_s >= kMinSeriesIntervalS;

  std::vector<DeviceOpRow> device_rows;
  std::vector<DeviceTotals> sorted = in.devices;
  std::sort(sorted.begin(), sorted.end(), [](const auto &a, const auto &b) { return a.dev < b.dev; });
  for (const auto &d : sorted) {
    std::string name = name_of_(d.dev);
    for (int op = 0; op < BLOCK_OPS; op++) {
      const OpTotals &o = d.ops[op];
      device_rows.push_back({d.dev, op_name(op), name, o.count, o.bytes, o.latency_us, o.queue_us, o.size_bytes});
    }

    // The interval's delta: IOPS and throughput over all operations, latency of reads and writes
    // (flushes wait for the device cache and would mask how fast data moves).
    DeviceTotals empty;
    auto it = last_.find(d.dev);
    const DeviceTotals &before = it == last_.end() ? empty : it->second;
    uint64_t count = 0, bytes = 0;
    for (int op = 0; op < BLOCK_OPS; op++) {
      count += deltas_(before.ops[op].count, d.ops[op].count);
      bytes += deltas_(before.ops[op].bytes, d.ops[op].bytes);
    }
    if (timeline_row && count > 0) {
      Log2Histogram delta = merged_latency(d, {BLOCK_OP_READ, BLOCK_OP_WRITE})
                                .minus(merged_latency(before, {BLOCK_OP_READ, BLOCK_OP_WRITE}));
      CounterDeltas counted_above;  // these two are in `count`: a reset of theirs is counted once, there
      uint64_t reads = counted_above(before.ops[BLOCK_OP_READ].count, d.ops[BLOCK_OP_READ].count);
      uint64_t writes = counted_above(before.ops[BLOCK_OP_WRITE].count, d.ops[BLOCK_OP_WRITE].count);
      TimelineRow row;
      row.dt_s = dt_s;
      row.dev = dev_string(d.dev);
      row.name = name;
      row.count = count;
      row.reads = reads;
      row.writes = writes;
      row.bytes = bytes;
      row.iops = round_hundredth(static_cast<double>(count) / dt_s);
      row.mbps = round_hundredth(static_cast<double>(bytes) / 1e6 / dt_s);
      row.p50_us = delta.count() ? round_hundredth(delta.percentile(0.50)) : 0.0;
      row.p99_us = delta.count() ? round_hundredth(delta.percentile(0.99)) : 0.0;
      out.add_series(now_ns, "block", "timeline", row);
      if (delta.count()) out.add_hist(now_ns, "block", "latency:" + dev_string(d.dev), compact_histogram(delta));
    }
    if (timeline_row) last_[d.dev] = d;
  }
  if (timeline_row) last_t_ns_ = now_ns;
  // Every interval, the final sliver too: the slices' sums are the window's totals.
  devices_.write(now_ns, device_rows, out);

  // One row per process and device; the report groups them by process.
  std::vector<ProcessDeviceRow> process_rows;
  process_rows.reserve(in.processes.size());
  for (const auto &p : in.processes)
    process_rows.push_back({p.tgid, p.dev, p.comm, name_of_(p.dev), p.total_ns, p.count, p.bytes});
  processes_.write(now_ns, process_rows, out);

  const block_cpu_counters &c = in.counters;
  BlockCounters counters;
  counters.inserts = c.inserts;
  counters.issues = c.issues;
  counters.completions = c.completions;
  counters.partial_completions = c.partial_completions;
  counters.unpaired_completions = c.unpaired_completions;
  counters.unissued_flushes = c.unissued_flushes;
  counters.dropped_requests = c.dropped_requests;
  counters.stats_map_full = c.stats_map_full;
  counters.proc_map_full = c.proc_map_full;
  counters.events_produced = c.events_produced;
  counters.events_lost = c.events_lost;
  counters.events_delivered = in.events_delivered;
  counters.recursion_misses = in.recursion_misses;
  counters.counter_resets = deltas_.resets();
  counters_.write(now_ns, {counters}, out);
}

json sector_or_null(uint64_t sector) { return sector == UINT64_MAX ? json(nullptr) : json(sector); }

json outlier_row(const block_event &e, const std::string &device_name) {
  return {{"pid", e.tgid},
          {"tid", e.pid},
          {"comm", std::string(e.comm, strnlen(e.comm, sizeof e.comm))},
          {"dev", dev_string(e.dev)},
          {"name", device_name},
          {"sector", sector_or_null(e.sector)},
          {"size", e.bytes},  // bytes
          {"op", op_name(e.op)},
          {"latency_ns", e.latency_ns},
          {"queue_ns", e.queue_ns},
          {"error", e.error}};
}

}  // namespace triage::block

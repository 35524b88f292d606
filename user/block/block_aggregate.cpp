#include "block/block_aggregate.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <unordered_map>

namespace triage::block {
namespace {

constexpr size_t kTopProcesses = 50;  // rows kept in the recording
// The final flush usually lands right after the last tick: a sliver of an interval would show as
// a spike in IOPS (a few requests over a few ms), so it joins no timeline row.
constexpr double kMinIntervalS = 0.02;

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
  double dt_s = now_ns > last_t_ns_ ? static_cast<double>(now_ns - last_t_ns_) / 1e9 : 0;
  bool timeline_row = dt_s >= kMinIntervalS;

  json devices = json::array();
  std::vector<DeviceTotals> sorted = in.devices;
  std::sort(sorted.begin(), sorted.end(), [](const auto &a, const auto &b) { return a.dev < b.dev; });
  for (const auto &d : sorted) {
    std::string name = name_of_(d.dev);
    json ops = json::object();
    for (int op = 0; op < BLOCK_OPS; op++) {
      const OpTotals &o = d.ops[op];
      ops[op_name(op)] = {{"count", o.count},
                          {"bytes", o.bytes},
                          {"latency", o.latency_us.to_json("us")},
                          {"queue_latency", o.queue_us.to_json("us")},
                          {"size", o.size_bytes.to_json("bytes")}};
    }
    devices.push_back({{"dev", dev_string(d.dev)}, {"name", name}, {"ops", ops}});

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
      out.add_series(now_ns, "block", "timeline",
                     {{"dt_s", dt_s},
                      {"dev", dev_string(d.dev)},
                      {"name", name},
                      {"count", count},
                      {"reads", reads},
                      {"writes", writes},
                      {"bytes", bytes},
                      {"iops", round_hundredth(static_cast<double>(count) / dt_s)},
                      {"mbps", round_hundredth(static_cast<double>(bytes) / 1e6 / dt_s)},
                      {"p50_us", delta.count() ? round_hundredth(delta.percentile(0.50)) : 0.0},
                      {"p99_us", delta.count() ? round_hundredth(delta.percentile(0.99)) : 0.0}});
      if (delta.count()) out.add_hist(now_ns, "block", "latency:" + dev_string(d.dev), delta.to_json("us"));
    }
    if (timeline_row) last_[d.dev] = d;
  }
  if (timeline_row) last_t_ns_ = now_ns;
  out.put_state("block", "devices", devices);

  // One row per process, its devices listed: the report ties D-state time to them by pid.
  struct ProcessRow {
    std::string comm;
    uint64_t total_ns = 0, count = 0, bytes = 0;
    json devices = json::array();
  };
  std::unordered_map<uint32_t, ProcessRow> by_tgid;
  for (const auto &p : in.processes) {
    ProcessRow &row = by_tgid[p.tgid];
    if (row.comm.empty()) row.comm = p.comm;
    row.total_ns += p.total_ns;
    row.count += p.count;
    row.bytes += p.bytes;
    row.devices.push_back({{"dev", dev_string(p.dev)},
                           {"name", name_of_(p.dev)},
                           {"total_ns", p.total_ns},
                           {"count", p.count},
                           {"bytes", p.bytes}});
  }
  std::vector<std::pair<uint32_t, ProcessRow *>> ranked;
  for (auto &[tgid, row] : by_tgid) ranked.emplace_back(tgid, &row);
  std::sort(ranked.begin(), ranked.end(), [](const auto &a, const auto &b) {
    return a.second->total_ns != b.second->total_ns ? a.second->total_ns > b.second->total_ns : a.first < b.first;
  });
  if (ranked.size() > kTopProcesses) ranked.resize(kTopProcesses);
  json top = json::array();
  for (auto &[tgid, row] : ranked) {
    std::sort(row->devices.begin(), row->devices.end(),
              [](const json &a, const json &b) { return a.value("total_ns", 0ULL) > b.value("total_ns", 0ULL); });
    top.push_back({{"pid", tgid},
                   {"comm", row->comm},
                   {"total_ns", row->total_ns},
                   {"count", row->count},
                   {"bytes", row->bytes},
                   {"devices", row->devices}});
  }
  out.put_state("block", "top_processes", top);
  out.put_state("block", "top_totals", {{"top_processes", by_tgid.size()}});

  const block_cpu_counters &c = in.counters;
  out.put_state("block", "counters",
                {{"method", in.method},
                 {"inserts", c.inserts},
                 {"issues", c.issues},
                 {"completions", c.completions},
                 {"partial_completions", c.partial_completions},
                 {"unpaired_completions", c.unpaired_completions},
                 {"unissued_flushes", c.unissued_flushes},
                 {"dropped_requests", c.dropped_requests},
                 {"stats_map_full", c.stats_map_full},
                 {"proc_map_full", c.proc_map_full},
                 {"events_produced", c.events_produced},
                 {"events_lost", c.events_lost},
                 {"events_delivered", in.events_delivered},
                 {"recursion_misses", in.recursion_misses},
                 {"counter_resets", deltas_.resets()},
                 {"outlier_threshold_ns", in.outlier_threshold_ns}});
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

#include "block/block_report.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <set>
#include <vector>

#include "block/block_aggregate.h"
#include "block/block_rows.h"
#include "core/histogram.h"
#include "report/finding_span.h"
#include "report/outliers.h"
#include "report/process_names.h"
#include "report/text_util.h"
#include "sched/sched_rows.h"

namespace triage::block {
namespace {

// Read/write p99 latency that users feel. A healthy SSD or NVMe device stays well under 10 ms at
// p99 and even a busy spinning disk under ~30 ms (seek + rotation + a short queue); 50 ms means
// requests queue behind a saturated or failing device, a throttled cloud volume or a stalled
// backing store. A second per request is a stall: every synchronous write waits that long.
constexpr double kSlowP99Us = 50'000;
constexpr double kStalledP99Us = 1'000'000;
// Too few requests make p99 the single slowest one: a lone slow request is an outlier, not a slow
// disk (it still shows in the outliers).
constexpr uint64_t kMinRequestsForLatency = 20;
constexpr size_t kOutliersKept = 200;
constexpr size_t kTopProcesses = 50;  // processes in top_processes and in the D-state tie
const char *const kOps[] = {"read", "write", "flush", "discard"};

// Reads and writes together: what applications wait for. Flushes wait for the device's cache to
// drain and would make a healthy disk that is asked to fsync a lot look slow.
Log2Histogram read_write_latency(const json &device) {
  Log2Histogram h;
  for (const char *op : {"read", "write"}) h.merge(Log2Histogram::from_json(device["ops"][op]["latency"]));
  return h;
}

std::string format_bytes(uint64_t bytes) {
  if (bytes >= 10ULL << 30) return fmt::format("{:.1f}GiB", static_cast<double>(bytes) / (1ULL << 30));
  if (bytes >= 10ULL << 20) return fmt::format("{:.1f}MiB", static_cast<double>(bytes) / (1ULL << 20));
  if (bytes >= 10ULL << 10) return fmt::format("{:.1f}KiB", static_cast<double>(bytes) / (1ULL << 10));
  return fmt::format("{}B", bytes);
}

std::string format_us(double us) {
  // A damaged row's negative or huge latency must clamp: an out-of-range double-to-integer
  // conversion is undefined behaviour.
  double ns = us * 1000;
  return format_duration_ns(!(ns > 0) ? 0 : ns >= 1.8e19 ? UINT64_MAX : static_cast<uint64_t>(ns));
}

std::string device_label(const json &d) {
  std::string name = d.value("name", "");
  return name.empty() ? d.value("dev", "") : fmt::format("{} ({})", name, d.value("dev", ""));
}

// Which devices the processes blocked in D submitted I/O to: the same pid (thread group) in sched's
// per-process rows of the slice (the largest by D-state time, as sched.top_dstate lists them) and
// in block's. Without that the evidence does not allow the tie; null when sched was not recorded.
json tie_dstate(const RecordingReader &r, const json &top_processes, json &unmatched) {
  if (!r.meta(sched::kConfigMeta)) return nullptr;
  auto sched_rows = read_table<sched::ProcessRow>(r, "sched", sched::kProcessesTable).rows;
  std::vector<const sched::ProcessRow *> dstate;
  for (const auto &p : sched_rows)
    if (p.d_total_ns() > 0) dstate.push_back(&p);
  rank_top(dstate, [](const sched::ProcessRow *p) { return p->d_total_ns(); },
           [](const sched::ProcessRow *p) { return p->pid; }, kTopProcesses);
  json ties = json::array();
  std::map<uint32_t, const json *> block_by_pid;
  for (const auto &p : top_processes) block_by_pid[p.value("pid", 0U)] = &p;
  for (const sched::ProcessRow *d : dstate) {
    auto it = block_by_pid.find(d->pid);
    if (it == block_by_pid.end()) {
      unmatched.push_back({{"pid", d->pid}, {"comm", d->comm}, {"dstate_ns", d->d_total_ns()}, {"io_ns", d->d_io_total_ns}});
      continue;
    }
    const json &b = *it->second;
    ties.push_back({{"pid", d->pid},
                    {"comm", d->comm},
                    {"dstate_ns", d->d_total_ns()},
                    {"io_ns", d->d_io_total_ns},
                    {"block_ns", b.value("total_ns", 0ULL)},
                    {"block_count", b.value("count", 0ULL)},
                    {"devices", b.value("devices", json::array())}});
  }
  return ties;
}

json empty_op() {
  return {{"count", 0},
          {"bytes", 0},
          {"latency", Log2Histogram().to_json("us")},
          {"queue_latency", Log2Histogram().to_json("us")},
          {"size", Log2Histogram().to_json("bytes")}};
}

// Per device, its operations summed over the slice, in device order.
json devices_of(const RecordingReader &r) {
  std::map<uint32_t, json> by_dev;
  for (const auto &row : read_table<DeviceOpRow>(r, "block", kDevicesTable).rows) {
    json &d = by_dev[row.dev];
    if (d.is_null()) d = {{"dev", dev_string(row.dev)}, {"name", row.name}, {"ops", json::object()}};
    if (!row.name.empty()) d["name"] = row.name;
    d["ops"][row.op] = {{"count", row.count},
                        {"bytes", row.bytes},
                        {"latency", row.latency_us.to_json("us")},
                        {"queue_latency", row.queue_us.to_json("us")},
                        {"size", row.size_bytes.to_json("bytes")}};
  }
  json devices = json::array();
  for (auto &[dev, d] : by_dev) {
    for (const char *op : kOps)
      if (!d["ops"].contains(op)) d["ops"][op] = empty_op();
    d["read_write_latency"] = read_write_latency(d).to_json("us");
    devices.push_back(std::move(d));
  }
  return devices;
}

// The slice's (process, device) rows grouped by process, largest I/O time first (at most
// kTopProcesses), each with its devices; `total`: how many processes submitted I/O.
json top_processes_of(const RecordingReader &r, uint64_t &total) {
  auto table = read_table<ProcessDeviceRow>(r, "block", kProcessesTable);
  struct Process {
    std::string comm;
    uint64_t total_ns = 0, count = 0, bytes = 0;
    std::vector<const ProcessDeviceRow *> devices;
  };
  std::map<uint32_t, Process> by_pid;
  for (const auto &row : table.rows) {
    Process &p = by_pid[row.pid];
    if (p.comm.empty()) p.comm = row.comm;  // rows come largest first: the busiest device's name
    p.total_ns += row.total_ns;
    p.count += row.count;
    p.bytes += row.bytes;
    p.devices.push_back(&row);
  }
  total = by_pid.size() + (table.other ? table.other_keys : 0);
  std::vector<std::pair<uint32_t, const Process *>> ranked;
  for (const auto &[pid, p] : by_pid) ranked.emplace_back(pid, &p);
  rank_top(ranked, [](const auto &p) { return p.second->total_ns; }, [](const auto &p) { return p.first; }, kTopProcesses);
  json top = json::array();
  for (const auto &[pid, p] : ranked) {
    json devices = json::array();
    for (const ProcessDeviceRow *d : p->devices)  // largest first, as read_table ranks them
      devices.push_back({{"dev", dev_string(d->dev)},
                         {"name", d->name},
                         {"total_ns", d->total_ns},
                         {"count", d->count},
                         {"bytes", d->bytes}});
    top.push_back({{"pid", pid},
                   {"comm", p->comm},
                   {"total_ns", p->total_ns},
                   {"count", p->count},
                   {"bytes", p->bytes},
                   {"devices", std::move(devices)}});
  }
  return top;
}

std::string text_bytes(const json &p, const char *key) { return format_bytes(p.value(key, 0ULL)); }

std::string text_devices(const json &p, const char *key) {
  std::string devs;
  for (const auto &d : p[key]) devs += (devs.empty() ? "" : ",") + printable(device_label(d));
  return devs;
}

}  // namespace

const TopTable &top_processes_table() {
  using namespace top_cells;
  static const TopTable table{"top_processes",
                              "top processes by I/O time, submission to completion",
                              "I/O time",
                              {{"PID", "PID", "pid", 8, text_number, html_id},
                               {"COMM", "command", "comm", TopColumn::kName, text_process, html_process},
                               {"TOTAL", "total", "total_ns", 10, text_duration_ns, html_duration_ns},
                               {"COUNT", "count", "count", 8, text_number, html_exact},
                               {"BYTES", "bytes", "bytes", 10, text_bytes, html_bytes},
                               {"DEVICES", "devices", "devices", TopColumn::kLast, text_devices, html_device_list}},
                              false,
                              kTopShown};
  return table;
}

json build_section(const RecordingReader &r, uint64_t start_mono) {
  auto config_json = r.meta(kConfigMeta);
  if (!config_json) return nullptr;
  const auto config = config_json->get<BlockConfig>();
  const auto counters = read_counters<BlockCounters>(r, "block", kCountersTable);
  auto seconds_since_start = [&](uint64_t t_ns) {
    return t_ns > start_mono ? static_cast<double>(t_ns - start_mono) / 1e9 : 0.0;
  };
  json s;
  s["method"] = config.method;
  s["devices"] = devices_of(r);

  json timeline = json::array();
  r.for_each_series("block", "timeline", [&](uint64_t t, const json &stored) {
    auto row = stored.get<TimelineRow>();
    // Recordings made before the rates were rounded at the source hold 15 digits.
    for (double TimelineRow::*rate : {&TimelineRow::iops, &TimelineRow::mbps, &TimelineRow::p50_us, &TimelineRow::p99_us})
      row.*rate = round_hundredth(row.*rate);
    json out = row;
    out["t"] = seconds_since_start(t);
    timeline.push_back(out);
  });
  s["timeline"] = timeline;

  uint64_t top_total = 0;
  json top = top_processes_of(r, top_total);
  s["top_processes"] = top;
  s["top_processes_total"] = top_total;

  WorstRows outliers(kOutliersKept);
  size_t outlier_count = 0;
  OutlierSpan outlier_span;
  r.for_each_event("block", "", [&](uint64_t t, const std::string &, const json &d) {
    outlier_count++;
    outlier_span.add(seconds_since_start(t));
    outliers.offer(d.value("latency_ns", 0ULL), [&] {
      json row = d;
      row["t"] = seconds_since_start(t);
      if (row.contains("sector") && row["sector"].is_number_unsigned())
        row["sector"] = sector_or_null(row["sector"].get<uint64_t>());
      return row;
    });
  });
  s["outliers"] = outliers.take();
  s["outlier_count"] = outlier_count;
  s["outliers_total"] = outlier_count;
  outlier_span.put(s);
  s["outlier_threshold_ns"] = config.outlier_threshold_ns;
  s["lost_events"] = counters.events_lost;
  s["events_produced"] = counters.events_produced;
  s["unpaired_completions"] = counters.unpaired_completions;
  s["unissued_flushes"] = counters.unissued_flushes;
  s["dropped_requests"] = counters.dropped_requests;
  s["dropped_rows"] = counters.stats_map_full + counters.proc_map_full;
  s["recursion_misses"] = counters.recursion_misses;
  s["counter_resets"] = counters.counter_resets;
  s["completions"] = counters.completions;
  s["partial_completions"] = counters.partial_completions;

  json unmatched = json::array();
  json ties = tie_dstate(r, top, unmatched);
  s["dstate_devices"] = ties;  // null: the sched family was not recorded
  s["dstate_unmatched"] = ties.is_null() ? json(nullptr) : unmatched;
  return s;
}

void render_text(const json &s, std::string &out) {
  heading("Block I/O: which disk, how slow, and whose I/O?", out);
  if (s.is_null()) {
    out += "  not recorded\n";
    return;
  }
  const auto &devices = s["devices"];
  if (devices.empty()) out += "  no request completed in the window\n";
  else {
    out += fmt::format("  {:<18} {:<7} {:>8} {:>10} {:>9} {:>9} {:>9} {:>10}\n", "DEVICE", "OP", "COUNT", "BYTES",
                       "p50", "p99", "max", "queue p99");
    for (const auto &d : devices)
      for (const char *op : kOps) {
        const auto &o = d["ops"][op];
        if (o.value("count", 0ULL) == 0) continue;
        const auto &lat = o["latency"];
        const auto &queue = o["queue_latency"];
        out += fmt::format("  {:<18} {:<7} {:>8} {:>10} {:>9} {:>9} {:>9} {:>10}\n", printable(device_label(d)), op,
                           o.value("count", 0ULL), format_bytes(o.value("bytes", 0ULL)), format_us(lat.value("p50", 0.0)),
                           format_us(lat.value("p99", 0.0)), format_us(lat.value("max", 0.0)),
                           queue.value("count", 0ULL) ? format_us(queue.value("p99", 0.0)) : "-");
      }
  }

  const auto &timeline = s["timeline"];
  if (!timeline.empty()) {
    out += "\n  per interval (devices with completed requests):\n";
    out += fmt::format("  {:>7} {:<12} {:>9} {:>9} {:>9} {:>9}\n", "t(s)", "DEVICE", "IOPS", "MB/s", "p50", "p99");
    size_t first = timeline.size() > kTimelineShown ? timeline.size() - kTimelineShown : 0;
    if (first) out += fmt::format("  ({} earlier rows in the JSON report)\n", first);
    for (size_t i = first; i < timeline.size(); i++) {
      const auto row = timeline[i].get<TimelineRow>();
      out += fmt::format("  {:>7.1f} {:<12} {:>9.1f} {:>9.2f} {:>9} {:>9}\n", timeline[i].value("t", 0.0),
                         printable(row.name.empty() ? row.dev : row.name), row.iops, row.mbps, format_us(row.p50_us),
                         format_us(row.p99_us));
    }
  }

  for (const auto &d : devices) {
    if (d["read_write_latency"].value("count", 0ULL) == 0) continue;
    out += fmt::format("\nread/write latency, {} (issue to completion)\n", printable(device_label(d)));
    render_histogram(d["read_write_latency"], "usecs", out);
  }

  render_top_text(top_processes_table(), s, out);

  out += "\nD-state processes and the devices they waited on\n";
  if (s["dstate_devices"].is_null()) out += "  sched was not recorded: no D-state time to tie to devices\n";
  else {
    for (const auto &t : s["dstate_devices"]) {
      std::string devs;
      for (const auto &d : t["devices"]) devs += (devs.empty() ? "" : ", ") + printable(device_label(d));
      out += fmt::format("  {} ({}): {} in D ({} in I/O wait); submitted {} requests taking {} on {}\n",
                         printable(process_label(t)), t.value("pid", 0), format_duration_ns(t.value("dstate_ns", 0ULL)),
                         format_duration_ns(t.value("io_ns", 0ULL)), t.value("block_count", 0ULL),
                         format_duration_ns(t.value("block_ns", 0ULL)), devs);
    }
    const auto &unmatched = s["dstate_unmatched"];
    const size_t shown = std::min(unmatched.size(), kUnmatchedShown);
    for (size_t i = 0; i < shown; i++) {
      const auto &u = unmatched[i];
      out += fmt::format("  {} ({}): {} in D, but no block request of its own in the window: not tied to a device "
                         "(a network filesystem, a lock, a page fault on shared pages, or writeback by a kworker)\n",
                         printable(process_label(u)), u.value("pid", 0), format_duration_ns(u.value("dstate_ns", 0ULL)));
    }
    if (shown < unmatched.size())
      out += fmt::format("  (not tied to a device: {}; the rest are in the JSON report)\n",
                         list_extent(shown, unmatched.size(), "D-state time"));
    if (s["dstate_devices"].empty() && s["dstate_unmatched"].empty()) out += "  (no process spent time in D)\n";
  }

  // The slowest requests, not the last: the worst one is what a reader looks for.
  const json shown = keep_worst(s["outliers"], kOutliersShown, "latency_ns");
  out += fmt::format("\n{}\n", outlier_heading("requests slower than", s, shown.size()));
  for (const auto &e : shown) {
    out += fmt::format("  {:>7.2f}s {:<10} {:<7} {:>9} sector {} {} by {} ({}){}\n", e.value("t", 0.0),
                       printable(e.value("name", "").empty() ? e.value("dev", "") : e.value("name", "")),
                       e.value("op", ""), format_duration_ns(e.value("latency_ns", 0ULL)),
                       e.contains("sector") && e["sector"].is_number_unsigned() ? fmt::format("{}", e["sector"].get<uint64_t>()) : "unknown",
                       format_bytes(e.value("size", 0ULL)), printable(process_label(e)), e.value("pid", 0),
                       e.value("error", 0) ? fmt::format(" error {}", e.value("error", 0)) : "");
  }
  out += "\nhow the requests were counted\n";
  for (const auto &line : request_accounting(s)) out += "  " + line + "\n";
}

std::vector<std::string> request_accounting(const json &s) {
  std::vector<std::string> lines;
  if (!s.is_object()) return lines;
  uint64_t flush_rows = 0;
  for (const auto &d : s.value("devices", json::array())) flush_rows += d["ops"]["flush"].value("count", 0ULL);
  lines.push_back(fmt::format("completed and timed (issue to completion): {}", s.value("completions", 0ULL)));
  const json &unissued = s.contains("unissued_flushes") ? s["unissued_flushes"] : json();
  uint64_t unpaired = s.value("unpaired_completions", 0ULL);
  if (unissued.is_number() && unissued.get<uint64_t>() > 0)
    lines.push_back(fmt::format(
        "flushes ended without an issue of their own: {} — not lost data: the block layer served each with its own "
        "flush request (the flush rows: {}), or at once where the device has no write cache",
        unissued.get<uint64_t>(), flush_rows));
  if (unpaired > 0) {
    // Seen with ext4 on virtio: as many as the flush rows, one per write that carried a flush.
    bool like_flushes = flush_rows > 0 && std::max(unpaired, flush_rows) - std::min(unpaired, flush_rows) <=
                                              std::max<uint64_t>(2, flush_rows / 10);
    lines.push_back(fmt::format(
        "completions without a seen issue: {} — not lost data, no latency counted: a write that carried a flush "
        "(fsync, a journal commit) is completed a second time once its flush is done, and only its first completion "
        "is timed{}{}; requests in flight when tracing started land here too",
        unpaired, like_flushes ? fmt::format(" (here about the {} flush rows: one such write per flush)", flush_rows) : "",
        unissued.is_number() ? "" : "; so do flushes the block layer served with its own flush request"));
  }
  if (uint64_t n = s.value("partial_completions", 0ULL))
    lines.push_back(fmt::format("partial completions: {} — a request finished in pieces, counted once when whole", n));
  if (uint64_t n = s.value("dropped_requests", 0ULL))
    lines.push_back(fmt::format("requests not followed (the in-flight table was full): {} — missing from every "
                                "number above", n));
  if (uint64_t n = s.value("recursion_misses", 0ULL))
    lines.push_back(fmt::format("tracepoint runs the kernel skipped (a BPF program already running on that CPU): {} "
                                "— those requests are missing or completed unpaired", n));
  return lines;
}

namespace {

// One or two tasks in D on a fast, idle device is not a saturated device: a task that writes
// synchronously (fsync, O_DSYNC) sleeps in D through every flush however fast the device answers.
// Fast: read/write p99 under 1 ms (an SSD, or a volume with a cache in front); idle: requests
// waited under 1 ms in the I/O scheduler at p99, so nothing queued behind a busy device.
constexpr double kFewBlockedTasks = 2.0;
constexpr double kFastDeviceP99Us = 1'000;
constexpr double kShortQueueP99Us = 1'000;

const json *device_named(const json &s, const std::string &dev) {
  for (const auto &d : s["devices"])
    if (d.value("dev", "") == dev) return &d;
  return nullptr;
}

Log2Histogram read_write_queue(const json &device) {
  Log2Histogram h;
  for (const char *op : {"read", "write"}) h.merge(Log2Histogram::from_json(device["ops"][op]["queue_latency"]));
  return h;
}

// The devices the D-state processes submitted to, when every one of them was fast and idle;
// empty when one was not, or when no D-state process is tied to a device.
std::vector<const json *> fast_idle_devices(const json &s) {
  std::vector<const json *> devices;
  if (!s["dstate_devices"].is_array()) return devices;
  std::set<std::string> tied;
  for (const auto &t : s["dstate_devices"])
    for (const auto &d : t["devices"]) tied.insert(d.value("dev", ""));
  for (const auto &dev : tied) {
    const json *d = device_named(s, dev);
    if (!d) return {};
    const json &lat = (*d)["read_write_latency"];
    Log2Histogram queue = read_write_queue(*d);
    if (lat.value("count", 0ULL) < kMinRequestsForLatency || lat.value("p99", 0.0) >= kFastDeviceP99Us ||
        (queue.count() && queue.percentile(0.99) >= kShortQueueP99Us))
      return {};
    devices.push_back(d);
  }
  return devices;
}

// The seconds the report covers: its slice when it has one (window.slice), else the window.
double covered_seconds(const json &report) {
  const json window = report.value("window", json::object());
  const json slice = window.value("slice", json());
  if (slice.is_object() && slice.contains("from_s") && slice.contains("to_s"))
    return std::max(0.0, slice.value("to_s", 0.0) - slice.value("from_s", 0.0));
  return window.value("duration_s", 0.0);
}

// io-saturation whose premise the device numbers contradict, told as what it is.
json sync_writes_finding(const json &io_saturation, const json &s, const std::vector<const json *> &devices,
                         double duration_s) {
  std::string writers;
  size_t n = 0;
  for (const auto &t : s["dstate_devices"]) {
    if (n++ == 3) break;
    writers += fmt::format("{}{} ({})", writers.empty() ? "" : ", ", t.value("comm", ""), t.value("pid", 0));
  }
  std::string device_text;
  uint64_t flushes = 0, writes = 0;
  for (const json *d : devices) {
    uint64_t f = (*d)["ops"]["flush"].value("count", 0ULL), w = (*d)["ops"]["write"].value("count", 0ULL);
    flushes += f, writes += w;
    Log2Histogram queue = read_write_queue(*d);
    device_text += fmt::format("{}{}: p99 {}, queue p99 {}, {} writes, {} flushes", device_text.empty() ? "" : "; ",
                               device_label(*d), format_us((*d)["read_write_latency"].value("p99", 0.0)),
                               queue.count() ? format_us(queue.percentile(0.99)) : "-", w, f);
  }
  auto per_s = [&](uint64_t count) { return duration_s > 0 ? round_hundredth(static_cast<double>(count) / duration_s) : 0.0; };
  double blocked = round_hundredth(io_saturation["evidence"].value("blocked_avg", 0.0));
  json finding = io_saturation;
  finding["id"] = "sync-writes";
  finding["severity"] = "warning";
  finding["title"] = fmt::format(
      "Synchronous writes, not a saturated disk: {} waited in D (on average {} task(s)) on {} — a fast, idle device "
      "— with {} flushes/s and {} writes/s",
      writers, blocked, devices.size() == 1 ? device_label(*devices[0]) : fmt::format("{} devices", devices.size()),
      per_s(flushes), per_s(writes));
  finding["evidence"]["blocked_avg"] = blocked;
  finding["evidence"]["writers"] = writers;
  finding["evidence"]["devices"] = device_text;
  finding["evidence"]["flushes_per_s"] = per_s(flushes);
  finding["evidence"]["writes_per_s"] = per_s(writes);
  finding["advice"] =
      "Each fsync()/fdatasync() (or O_SYNC/O_DSYNC write) waits until the device has made the data durable, so the "
      "writer sleeps in D for every one however fast the device is: the load average counts it, the disk is not "
      "the limit. If the writer is too slow, sync less often (group commit, batch writes before one fsync) or move "
      "the sync off the request path; check how often it syncs: strace -f -e trace=fsync,fdatasync -p PID.";
  return finding;
}

}  // namespace

void add_findings(const json &report, json &findings) {
  const json &s = report["block"];
  if (s.is_null()) return;

  std::string slow_devices;
  for (const auto &d : s["devices"]) {
    const json &lat = d["read_write_latency"];
    uint64_t count = lat.value("count", 0ULL);
    double p99 = lat.value("p99", 0.0);
    std::string dev = d.value("dev", "");
    // Each interval judged on its own, so that a slow minute inside a quiet hour counts and the
    // span says when; `slow_at_all`: intervals with a slow p99 however few requests they had.
    ConditionSpan slow, slow_at_all;
    size_t slow_intervals = 0;
    double worst_t = 0, worst_p99 = 0;
    for (const auto &stored : s["timeline"]) {
      const auto row = stored.get<TimelineRow>();
      if (row.dev != dev) continue;
      double t = stored.value("t", 0.0), row_p99 = row.p99_us;
      // A row without the split (written by hand, or damaged): all its requests.
      uint64_t requests = stored.contains("reads") ? row.reads + row.writes : row.count;
      bool held = requests >= kMinRequestsForLatency && row_p99 >= kSlowP99Us;
      slow_intervals += held;
      slow.observe(t, row_p99, held);
      slow_at_all.observe(t, row_p99, row_p99 >= kSlowP99Us);
      if (row_p99 > worst_p99) worst_p99 = row_p99, worst_t = t;
    }
    bool slow_overall = count >= kMinRequestsForLatency && p99 >= kSlowP99Us;
    if (!slow_overall && !slow.held()) continue;
    std::string submitters;
    size_t n = 0;
    for (const auto &p : s["top_processes"]) {
      bool on_device = false;
      for (const auto &pd : p["devices"]) on_device |= pd.value("dev", "") == dev;
      if (!on_device || n++ == 3) continue;
      submitters += fmt::format("{}{} ({})", submitters.empty() ? "" : ", ", p.value("comm", ""), p.value("pid", 0));
    }
    double shown_p99 = slow_overall ? p99 : worst_p99;
    slow_devices += fmt::format("{}{} p99 {}", slow_devices.empty() ? "" : ", ", device_label(d), format_us(shown_p99));
    json finding = {
        {"id", "disk-slow"},
        {"severity", shown_p99 >= kStalledP99Us ? "critical" : "warning"},
        {"title", slow_overall ? fmt::format("Disk {} is slow: p99 read/write latency {} over {} requests",
                                             device_label(d), format_us(p99), count)
                               : fmt::format("Disk {} was slow for {} interval(s): p99 read/write latency up to {}",
                                             device_label(d), slow_intervals, format_us(worst_p99))},
        {"evidence",
         {{"dev", dev},
          {"name", d.value("name", "")},
          {"count", count},
          {"p50_us", lat.value("p50", 0.0)},
          {"p99_us", p99},
          {"max_us", lat.value("max", 0ULL)},
          {"slow_intervals", slow_intervals},
          {"worst_interval_t", worst_t},
          {"worst_interval_p99_us", worst_p99},
          {"top_submitters", submitters.empty() ? std::string("-") : submitters}}},
        {"advice",
         "Requests wait on the device itself (issue to completion): check its health (smartctl, dmesg for resets and "
         "timeouts), whether it is saturated (iostat -x: %util, aqu-sz), a throttled cloud volume's IOPS/throughput "
         "limit, or the backing store of a virtual or loop device; move or throttle the top submitters."}};
    if (slow.held()) slow.stamp(finding);
    else if (slow_at_all.held()) slow_at_all.stamp(finding);
    else {
      // Slow over the slice, yet no interval row (each too short to be one, or the final sliver):
      // the worst interval is the best "when" there is.
      ConditionSpan worst;
      worst.observe(worst_t, worst_p99, true);
      worst.stamp(finding);
    }
    findings.push_back(std::move(finding));
  }

  // The tie-in: what the D-state processes of io-saturation waited on, where the evidence allows.
  for (auto &f : findings) {
    if (f.value("id", "") != "io-saturation") continue;
    std::string tied;
    size_t n = 0;
    if (s["dstate_devices"].is_array())
      for (const auto &t : s["dstate_devices"]) {
        if (n++ == 3) break;
        std::string devs;
        for (const auto &d : t["devices"]) devs += (devs.empty() ? "" : "+") + device_label(d);
        tied += fmt::format("{}{} ({}) -> {}", tied.empty() ? "" : ", ", t.value("comm", ""), t.value("pid", 0), devs);
      }
    f["evidence"]["dstate_on_devices"] =
        tied.empty() ? "none of the top D-state processes submitted block I/O in the window: not tied to a device" : tied;
    if (!slow_devices.empty()) f["evidence"]["slow_devices"] = slow_devices;
    auto fast = fast_idle_devices(s);
    const json &blocked = f["evidence"].contains("blocked_avg") ? f["evidence"]["blocked_avg"] : json();
    if (!fast.empty() && blocked.is_number() && blocked.get<double>() <= kFewBlockedTasks)
      f = sync_writes_finding(f, s, fast, covered_seconds(report));
  }
}

}  // namespace triage::block

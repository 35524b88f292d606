// The block family's aggregation, kept apart from libbpf so unit tests feed it synthetic totals:
// cumulative per-device and per-process totals in, the recording's rows out (per-interval
// timeline and deltas, block_rows.h).
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "block/block.h"
#include "block/block_rows.h"
#include "core/counter_delta.h"
#include "core/histogram.h"
#include "record/recording.h"

namespace triage::block {

const char *op_name(uint32_t op);  // read, write, flush, discard
std::string dev_string(uint32_t dev);  // the kernel's dev_t (major << 20 | minor) as "7:0"
inline uint32_t make_dev(uint32_t major, uint32_t minor) { return major << 20 | minor; }

struct OpTotals {
  uint64_t count = 0;
  uint64_t bytes = 0;
  Log2Histogram latency_us;  // issue -> complete
  Log2Histogram queue_us;    // insert -> issue
  Log2Histogram size_bytes;

  void merge(const block_stats &kernel_copy);
};

struct DeviceTotals {
  uint32_t dev = 0;
  std::array<OpTotals, BLOCK_OPS> ops{};
};

struct ProcessDeviceTotals {
  uint32_t tgid = 0;
  uint32_t dev = 0;
  std::string comm;
  uint64_t total_ns = 0;
  uint64_t count = 0;
  uint64_t bytes = 0;
};

// Adds what the kernel's per-CPU write-back caches (struct block_proc_cache, one per CPU) hold
// to the rows read from proc_stats, by (tgid, dev): a key in both is one row.
void add_cached_processes(std::vector<ProcessDeviceTotals> &processes, const std::vector<block_proc_cache> &caches);

struct SampleInput {
  std::vector<DeviceTotals> devices;             // cumulative since attach
  std::vector<ProcessDeviceTotals> processes;    // cumulative since attach
  block_cpu_counters counters{};                 // summed over CPUs
  uint64_t events_delivered = 0;                 // outliers userspace took from the ring buffer
  std::string method;                            // the hook set: tp_btf or raw_tp
  uint64_t outlier_threshold_ns = 0;
  // Runs the kernel skipped because the program was already running on that CPU (a completion
  // interrupting an issue): requests the pairing cannot see, reported rather than hidden.
  uint64_t recursion_misses = 0;
};

// Turns cumulative totals, read once per interval, into rows: a `timeline` series row per active
// device and interval, and the interval's deltas of the `devices`, `processes` and `counters`
// tables (block_rows.h); the constants once, as meta.
class BlockSampler {
 public:
  using NameOf = std::function<std::string(uint32_t dev)>;
  explicit BlockSampler(NameOf name_of) : name_of_(std::move(name_of)) {}

  void start(uint64_t now_ns) { last_t_ns_ = now_ns; }
  // The window's constants, once (also done by the first sample): their presence tells a report
  // that block was recorded.
  void write_config(const BlockConfig &config, RecordingWriter &out) {
    if (config_written_) return;
    out.set_meta(kConfigMeta, config);
    config_written_ = true;
  }
  void sample(uint64_t now_ns, const SampleInput &input, RecordingWriter &out);

 private:
  NameOf name_of_;
  uint64_t last_t_ns_ = 0;
  std::map<uint32_t, DeviceTotals> last_;
  CounterDeltas deltas_;  // device counters seen lower than at the last row are counted, not wrapped
  bool config_written_ = false;
  DeltaTable<DeviceOpRow> devices_{"block", kDevicesTable};
  DeltaTable<ProcessDeviceRow> processes_{"block", kProcessesTable};
  DeltaTable<BlockCounters> counters_{"block", kCountersTable};
};

// An outlier from the ring buffer as the recording stores it (kind = op name).
json outlier_row(const block_event &e, const std::string &device_name);

// A request's start sector, or null where it has none: blk_rq_init() sets (sector_t)-1 and a
// flush keeps it, which printed as a number reads as a real place on the disk.
json sector_or_null(uint64_t sector);

}  // namespace triage::block

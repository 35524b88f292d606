// The block family's rows in the recording, declared once for the sampler that writes them
// (block_aggregate.cpp) and the section builder that reads them (block_report.cpp):
//
//   meta  "block.config"              BlockConfig: the constants of the window
//   delta "block" / "counters"        BlockCounters: one row, the family's counters
//   delta "block" / "devices"         DeviceOpRow per device and operation
//   delta "block" / "processes"       ProcessDeviceRow per process and device
//   gauge "block" / "<table>/labels"  both tables' labels(), written when they change
//   series "block" / "timeline"       TimelineRow per interval and active device
//   hist  "block" / "latency:<dev>"   per interval: that device's read/write latency
#pragma once

#include <cstdint>
#include <string>
#include <tuple>
#include <utility>

#include <nlohmann/json.hpp>

#include "core/compact_json.h"
#include "core/delta_table.h"
#include "core/histogram.h"

namespace triage::block {

inline constexpr const char *kConfigMeta = "block.config";
inline constexpr const char *kCountersTable = "counters";
inline constexpr const char *kDevicesTable = "devices";
inline constexpr const char *kProcessesTable = "processes";

struct BlockConfig {
  std::string method;  // the hook set: tp_btf or raw_tp
  uint64_t outlier_threshold_ns = 0;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(BlockConfig, method, outlier_threshold_ns)

// Totals since attach in the sampler; a slice's sum in the report.
struct BlockCounters : SingleKey {
  uint64_t inserts = 0, issues = 0, completions = 0, partial_completions = 0, unpaired_completions = 0;
  uint64_t unissued_flushes = 0, dropped_requests = 0, stats_map_full = 0, proc_map_full = 0;
  uint64_t events_produced = 0, events_lost = 0, events_delivered = 0;
  uint64_t recursion_misses = 0;  // runs the kernel skipped: a program already running on that CPU
  uint64_t counter_resets = 0;    // device counters seen lower than at the last timeline row
  uint64_t rank() const { return 0; }
  static constexpr auto counters() {
    return std::tuple{&BlockCounters::inserts,          &BlockCounters::issues,
                      &BlockCounters::completions,      &BlockCounters::partial_completions,
                      &BlockCounters::unpaired_completions, &BlockCounters::unissued_flushes,
                      &BlockCounters::dropped_requests, &BlockCounters::stats_map_full,
                      &BlockCounters::proc_map_full,    &BlockCounters::events_produced,
                      &BlockCounters::events_lost,      &BlockCounters::events_delivered,
                      &BlockCounters::recursion_misses, &BlockCounters::counter_resets};
  }
  static constexpr auto peaks() { return std::tuple{}; }
  static constexpr auto histograms() { return std::tuple{}; }
  static constexpr auto fields() {
    return std::tuple{Field{"inserts", &BlockCounters::inserts},
                      Field{"issues", &BlockCounters::issues},
                      Field{"completions", &BlockCounters::completions},
                      Field{"partial_completions", &BlockCounters::partial_completions},
                      Field{"unpaired_completions", &BlockCounters::unpaired_completions},
                      Field{"unissued_flushes", &BlockCounters::unissued_flushes},
                      Field{"dropped_requests", &BlockCounters::dropped_requests},
                      Field{"stats_map_full", &BlockCounters::stats_map_full},
                      Field{"proc_map_full", &BlockCounters::proc_map_full},
                      Field{"events_produced", &BlockCounters::events_produced},
                      Field{"events_lost", &BlockCounters::events_lost},
                      Field{"events_delivered", &BlockCounters::events_delivered},
                      Field{"recursion_misses", &BlockCounters::recursion_misses},
                      Field{"counter_resets", &BlockCounters::counter_resets}};
  }
};
// Stored compact (core/compact_json.h): most counters stay 0 in most intervals.
inline void to_json(nlohmann::json &j, const BlockCounters &row) { compact_to_json(j, row, BlockCounters::fields()); }
inline void from_json(const nlohmann::json &j, BlockCounters &row) { compact_from_json(j, row, BlockCounters::fields()); }

// One device and operation (read, write, flush, discard): completed requests.
struct DeviceOpRow {
  uint32_t dev = 0;  // the kernel's dev_t (major << 20 | minor)
  std::string op;    // op_name()
  std::string name;  // label: the disk's name in /sys
  uint64_t count = 0, bytes = 0;
  Log2Histogram latency_us;  // issue -> complete
  Log2Histogram queue_us;    // insert -> issue
  Log2Histogram size_bytes;
  std::pair<uint32_t, std::string> key() const { return {dev, op}; }
  uint64_t rank() const { return count; }
  static constexpr auto labels() { return std::tuple{&DeviceOpRow::name}; }
  static constexpr auto counters() { return std::tuple{&DeviceOpRow::count, &DeviceOpRow::bytes}; }
  static constexpr auto peaks() { return std::tuple{}; }
  static constexpr auto histograms() {
    return std::tuple{&DeviceOpRow::latency_us, &DeviceOpRow::queue_us, &DeviceOpRow::size_bytes};
  }
  static constexpr auto fields() {
    return std::tuple{Field{"dev", &DeviceOpRow::dev},
                      Field{"op", &DeviceOpRow::op},
                      Field{"name", &DeviceOpRow::name},
                      Field{"count", &DeviceOpRow::count},
                      Field{"bytes", &DeviceOpRow::bytes},
                      Field{"latency_us", &DeviceOpRow::latency_us},
                      Field{"queue_us", &DeviceOpRow::queue_us},
                      Field{"size_bytes", &DeviceOpRow::size_bytes}};
  }
};
// Stored compact (core/compact_json.h): three histograms per row, written for every device and
// operation that completed requests in the interval; their empty buckets and percentiles are not.
inline void to_json(nlohmann::json &j, const DeviceOpRow &row) { compact_to_json(j, row, DeviceOpRow::fields()); }
inline void from_json(const nlohmann::json &j, DeviceOpRow &row) { compact_from_json(j, row, DeviceOpRow::fields()); }

// One process (thread group) and device: its requests, submission to completion. The report
// groups a slice's rows by process.
struct ProcessDeviceRow {
  uint32_t pid = 0, dev = 0;
  std::string comm, name;  // labels: the process's name as BPF saw it, the device's
  uint64_t total_ns = 0, count = 0, bytes = 0;
  std::pair<uint32_t, uint32_t> key() const { return {pid, dev}; }
  uint64_t rank() const { return total_ns; }
  static constexpr auto labels() { return std::tuple{&ProcessDeviceRow::comm, &ProcessDeviceRow::name}; }
  static constexpr auto counters() {
    return std::tuple{&ProcessDeviceRow::total_ns, &ProcessDeviceRow::count, &ProcessDeviceRow::bytes};
  }
  static constexpr auto peaks() { return std::tuple{}; }
  static constexpr auto histograms() { return std::tuple{}; }
  static constexpr auto fields() {
    return std::tuple{Field{"pid", &ProcessDeviceRow::pid},
                      Field{"dev", &ProcessDeviceRow::dev},
                      Field{"comm", &ProcessDeviceRow::comm},
                      Field{"name", &ProcessDeviceRow::name},
                      Field{"total_ns", &ProcessDeviceRow::total_ns},
                      Field{"count", &ProcessDeviceRow::count},
                      Field{"bytes", &ProcessDeviceRow::bytes}};
  }
};
// Stored compact (core/compact_json.h): no zeros, no empty labels.
inline void to_json(nlohmann::json &j, const ProcessDeviceRow &row) { compact_to_json(j, row, ProcessDeviceRow::fields()); }
inline void from_json(const nlohmann::json &j, ProcessDeviceRow &row) { compact_from_json(j, row, ProcessDeviceRow::fields()); }

// One device's interval: what completed in it, as rates over its length dt_s, and the read and
// write latency (0 when none completed). The rates are rounded at the source to the hundredth.
struct TimelineRow {
  double dt_s = 0;
  std::string dev;   // dev_string(): "major:minor"
  std::string name;  // the disk's name in /sys
  uint64_t count = 0, reads = 0, writes = 0, bytes = 0;
  double iops = 0, mbps = 0, p50_us = 0, p99_us = 0;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(TimelineRow, dt_s, dev, name, count, reads, writes, bytes, iops, mbps,
                                                p50_us, p99_us)

}  // namespace triage::block

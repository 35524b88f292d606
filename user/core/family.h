// A probe family (sched, block, tcp, oom) as the recorder drives it. Each family is one unit from
// its BPF program to its report section; the recorder knows nothing else about it.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/kernel_features.h"
#include "record/recording.h"

namespace triage {

struct RecordOptions {
  double duration_s = 0;           // 0: until SIGINT/SIGTERM
  double interval_s = 1.0;         // time-series interval
  uint32_t pid = 0;                // -p: only this process (thread group); 0 = all
  std::string cgroup_path;         // --cgroup: only tasks in this cgroup (or below); empty = all
  uint64_t cgroup_id = 0;          // kernfs id (inode) of cgroup_path
  int cgroup_subsys = -1;          // -1: cgroup v2 hierarchy; else the v1 subsystem id
  uint64_t outlier_threshold_ns = 10'000'000;      // sched waits streamed to the timeline
  uint64_t block_outlier_threshold_ns = 100'000'000;
  std::vector<std::string> disabled_probes;        // --no-probe NAME: simulate a missing hook
  std::vector<std::string> forced_hooks;           // --force-hook FAMILY=METHOD
  bool debug = false;
};

// The final flush usually lands right after the last tick: an interval shorter than this is a
// sliver whose rates and shares would show as noise, so no family writes a series row for it
// (what it counted still goes to the histograms and delta tables).
inline constexpr double kMinSeriesIntervalS = 0.02;

struct LossCounters {
  uint64_t produced = 0;  // events the BPF side offered to its ring buffer
  uint64_t lost = 0;      // of those, dropped because the buffer was full
  uint64_t dropped_keys = 0;  // map entries that could not be created (bounded maps full)
  // Events userspace took out of the ring buffer. Once stop_producers() ran and the last drain
  // and sample are done, produced == delivered + lost exactly: nothing disappears unaccounted.
  uint64_t delivered = 0;
  // dropped_keys by the counter that counted them (proc_map_full, ...); empty: one "map_full".
  std::map<std::string, uint64_t> dropped_by_counter;
};

class Family {
 public:
  virtual ~Family() = default;
  virtual std::string name() const = 0;

  // Opens, loads and attaches. Never throws and never ends the run: a probe that cannot attach
  // is reported in probes() with the reason, and the other families go on.
  virtual void attach(const RecordOptions &options, const KernelFeatures &kernel) = 0;
  virtual bool attached() const = 0;
  virtual std::vector<ProbeStatus> probes() const = 0;

  // Consumes whatever the ring buffers hold, in one batch, into the recording.
  virtual void drain(RecordingWriter &out) = 0;
  // A descriptor that becomes readable when the family's ring buffer fills past its wakeup
  // threshold (the BPF side wakes the consumer in batches, never per event); -1 if none.
  virtual int event_fd() const { return -1; }
  // Called once per interval at CLOCK_MONOTONIC `now_ns`: reads the in-kernel aggregates and
  // writes what the interval added (series, histogram and delta rows: core/delta_table.h) and
  // what it read at `now_ns` (gauge rows), so that any slice of the window can be reported. The
  // family's constants (hook method, thresholds) go to meta "<family>.config", whose presence
  // tells a report the family was recorded.
  virtual void sample(uint64_t now_ns, RecordingWriter &out) = 0;
  virtual LossCounters loss() const = 0;
  // File descriptors of the attached programs, for the overhead measurement (bpf_stats).
  virtual std::vector<int> program_fds() const = 0;
  // Detaches the programs but keeps the maps and ring buffers, so that the last drain and
  // sample see every event that was produced. drain() and sample() still work afterwards.
  virtual void stop_producers() = 0;
  // Detaches everything (also done by the destructor).
  virtual void detach() = 0;
};

}  // namespace triage

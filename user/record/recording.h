// The recording: one SQLite file per window. Every family writes rows through RecordingWriter
// during the window (one transaction per interval, so a crash keeps everything up to the last
// flush); `triage report` reads them back through RecordingReader and rebuilds the report.
//
// Tables (all payloads are JSON objects, so families extend them without schema changes):
//   meta(key, value)                         window facts: host, kernel, start_ns, end_ns, ...
//   probes(name, family, hook, method, status, reason)
//   series(t_ns, family, name, data)         one row per interval and series (the timeline)
//   hist(t_ns, family, name, data)           per-interval histogram deltas (heatmaps)
//   events(t_ns, family, kind, data)         outliers streamed from the ring buffers
//   state(family, name, data)                latest cumulative aggregates, replaced each flush
//   snapshots(which, data)                   the /proc checklist at "start" and "end"
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/result.h"

namespace triage {

using json = nlohmann::json;

// Bumped whenever a reader of the old schema would misread a new file.
inline constexpr int kRecordingSchemaVersion = 1;
// PRAGMA application_id: tells a triage recording from any other SQLite file ("TRIA").
inline constexpr int kRecordingApplicationId = 0x54524941;
// More CPUs than Linux supports (NR_CPUS max 8192) means a damaged file, not a big machine.
inline constexpr int kMaxRecordedCpus = 8192;

struct SqliteDeleter {
  void operator()(sqlite3 *db) const noexcept { sqlite3_close_v2(db); }
};
struct StatementDeleter {
  void operator()(sqlite3_stmt *stmt) const noexcept { sqlite3_finalize(stmt); }
};
using UniqueSqlite = std::unique_ptr<sqlite3, SqliteDeleter>;
using UniqueStatement = std::unique_ptr<sqlite3_stmt, StatementDeleter>;

struct ProbeStatus {
  std::string name;    // e.g. "sched_switch"
  std::string family;  // sched, block, tcp, oom
  std::string hook;    // the kernel hook, e.g. "tracepoint sched:sched_switch"
  std::string method;  // tp_btf, raw_tp, iter, fentry, kprobe, procfs, ...
  std::string status;  // attached | failed | skipped
  std::string reason;  // why it failed or was skipped, empty when attached
};

class RecordingWriter {
 public:
  // Creates `path` (mode 0600, never following or replacing an existing file) and its schema.
  static Result<std::unique_ptr<RecordingWriter>> create(const std::string &path);

  void set_meta(const std::string &key, const json &value);
  void set_probes(const std::vector<ProbeStatus> &probes);
  void add_series(uint64_t t_ns, const std::string &family, const std::string &name, const json &data);
  void add_hist(uint64_t t_ns, const std::string &family, const std::string &name, const json &data);
  void add_event(uint64_t t_ns, const std::string &family, const std::string &kind, const json &data);
  void put_state(const std::string &family, const std::string &name, const json &data);
  void put_snapshot(const std::string &which, const json &data);

  // Commits everything written since the last flush in one transaction. An error (disk full)
  // is sticky: later writes are dropped and failed() reports the first error.
  Result<void> flush();
  bool failed() const { return !first_error_.empty(); }
  const std::string &first_error() const { return first_error_; }
  const std::string &path() const { return path_; }
  uint64_t file_size_bytes() const;

 private:
  RecordingWriter() = default;
  bool exec(const char *sql);
  bool step(sqlite3_stmt *stmt);
  void begin_if_needed();
  sqlite3_stmt *prepare(UniqueStatement &slot, const char *sql);

  UniqueSqlite db_;
  std::string path_;
  std::string first_error_;
  bool in_transaction_ = false;
  UniqueStatement meta_stmt_, probe_stmt_, series_stmt_, hist_stmt_, event_stmt_, state_stmt_,
      snapshot_stmt_;
};

class RecordingReader {
 public:
  // Opens and validates a recording; a missing, empty, truncated, foreign or newer file is an
  // Error with kExitUsage and a one-line reason.
  static Result<std::unique_ptr<RecordingReader>> open(const std::string &path);

  std::optional<json> meta(const std::string &key) const;
  json all_meta() const;
  std::vector<ProbeStatus> probes() const;
  // Rows in time order. Each callback gets (t_ns, data).
  void for_each_series(const std::string &family, const std::string &name,
                       const std::function<void(uint64_t, const json &)> &fn) const;
  void for_each_hist(const std::string &family, const std::string &name,
                     const std::function<void(uint64_t, const json &)> &fn) const;
  // Events of one family (kind empty: every kind), in time order.
  void for_each_event(const std::string &family, const std::string &kind,
                      const std::function<void(uint64_t, const std::string &, const json &)> &fn) const;
  std::optional<json> state(const std::string &family, const std::string &name) const;
  std::optional<json> snapshot(const std::string &which) const;
  const std::string &path() const { return path_; }

 private:
  RecordingReader() = default;
  static Result<void> check_window_meta(const RecordingReader &r);
  UniqueSqlite db_;
  std::string path_;
};

}  // namespace triage

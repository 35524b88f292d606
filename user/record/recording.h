// The recording: one SQLite file per window. Every family writes rows through RecordingWriter
// during the window (one transaction per interval, so a crash keeps everything up to the last
// flush); `triage report` reads them back through RecordingReader and rebuilds the report.
//
// Tables (all payloads are JSON objects, so families extend them without schema changes):
//   meta(key, value)                         window facts: host, kernel, start_ns, end_ns, ...
//   probes(name, family, hook, method, status, reason)
//   series(t_ns, family, name, data)         one row per interval and series (the timeline)
//   hist(t_ns, family, name, data)           per-interval histogram deltas (heatmaps)
//   events(t_ns, family, kind, data)         low-rate events as JSON (OOM kills, resets, ...)
//   event_blocks(family, layout, t_first, t_last, count, data)
//                                            high-rate ring-buffer records, copied verbatim in
//                                            batches (data = count records of the named layout)
//   aggregates(t_ns, family, name, kind, data)
//                                            every other aggregate, one row per interval: kind
//                                            'delta' is what changed in the interval that ends at
//                                            t_ns (counters, keyed tables: core/delta_table.h),
//                                            'gauge' a value read at t_ns (a level, a queue)
//   snapshots(which, data)                   the /proc checklist at "start" and "end"
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/column_codec.h"
#include "core/result.h"

namespace triage {

using json = nlohmann::json;

// Bumped whenever a reader of the old schema would misread a new file.
// 2: event_blocks. 3: per-interval aggregates instead of one cumulative state row per table, so
// that any slice of the window can be reported; older files hold whole-window totals only and
// are refused with both versions named. 4: table rows as arrays under a column list, labels as
// gauges written when they change, histograms as arrays (core/delta_table.h); schema 3 files are
// still read.
inline constexpr int kRecordingSchemaVersion = 4;
inline constexpr int kOldestReadableSchemaVersion = 3;
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

// A batch of raw ring-buffer records as the reader returns it. `data` holds `count` records of
// the family's struct named by `layout` (e.g. "sched_event/1"); valid during the callback only.
struct EventBlock {
  std::string layout;
  uint64_t t_first = 0, t_last = 0, count = 0;
  const std::byte *data = nullptr;
  size_t bytes = 0;
};

// The part of a window a report covers: rows stamped in (from_ns, to_ns], CLOCK_MONOTONIC. A row
// stands for the interval that ends at its time, so consecutive slices split every counter exactly.
struct Slice {
  uint64_t from_ns = 0;
  uint64_t to_ns = UINT64_MAX;
  bool contains(uint64_t t_ns) const { return t_ns > from_ns && t_ns <= to_ns; }
  bool whole() const { return from_ns == 0 && to_ns == UINT64_MAX; }
};

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
  // `count` records of `layout`, `bytes` in all, stored as one BLOB: a storm costs one row per batch.
  void add_event_block(const std::string &family, const std::string &layout, uint64_t t_first, uint64_t t_last,
                       uint64_t count, const void *data, size_t bytes);
  // The interval ending at `t_ns`: what changed (kind 'delta') or what was read ('gauge'). Always
  // written, past the size cap too: they are bounded per interval, and every total depends on them.
  void add_delta(uint64_t t_ns, const std::string &family, const std::string &name, const json &data);
  void add_gauge(uint64_t t_ns, const std::string &family, const std::string &name, const json &data);
  void put_snapshot(const std::string &which, const json &data);

  // Commits everything written since the last flush in one transaction. An error (disk full)
  // is sticky: later writes are dropped and failed() reports the first error.
  Result<void> flush();

  // Size cap. Once the file would pass `max_bytes - max_bytes / 8`, timeline events are counted
  // per family instead of written; past `max_bytes` the interval series and histograms stop too.
  // Aggregates (deltas, gauges) and rows that replace themselves (meta, probes, snapshots) are
  // always written, so the report's totals stay whole. 0: no cap.
  void set_size_cap(uint64_t max_bytes);
  // {max_bytes, reached, reached_ns, events_not_written: {family: n}, rows_not_written}.
  json size_cap_json() const;
  bool size_cap_reached() const { return cap_reached_ns_ != 0; }
  bool failed() const { return !first_error_.empty(); }

  // After a write error (disk full): copies what the file committed into an in-memory database
  // and goes on writing there, so that the window still ends with a whole report. The file keeps
  // what was committed and never gets its end (end_ns), which is how a reader tells it is
  // incomplete. Memory stays bounded: events older than the failure are copied only from a small
  // file, and the size cap (at most kMemoryCapBytes more) applies to the copy.
  Result<void> continue_in_memory();
  bool in_memory() const { return !disk_error_.empty(); }
  const std::string &disk_error() const { return disk_error_; }
  static constexpr uint64_t kMemoryCapBytes = 32ull << 20;
  const std::string &first_error() const { return first_error_; }
  const std::string &path() const { return path_; }
  uint64_t file_size_bytes() const;

 private:
  RecordingWriter() = default;
  bool exec(const char *sql);
  bool step(sqlite3_stmt *stmt);
  void add_aggregate(uint64_t t_ns, const std::string &family, const std::string &name, const char *kind,
                     const json &data);
  // Series, histogram and aggregate rows name their (family, name, kind) by a number in `streams`:
  // the three names written in every row and again in its index were a quarter of an idle hour.
  std::optional<int64_t> stream_id(const std::string &family, const std::string &name, const char *kind);
  void insert_interval_row(UniqueStatement &slot, const char *sql, uint64_t t_ns, int64_t stream,
                           const std::string &text);
  void begin_if_needed();
  sqlite3_stmt *prepare(UniqueStatement &slot, const char *sql);

  // False (and counted) when writing a row of `bytes` would pass `limit`.
  bool fits(uint64_t bytes, uint64_t limit);
  uint64_t database_bytes();

  UniqueSqlite db_;
  std::string path_;
  std::string first_error_;
  bool in_transaction_ = false;
  uint64_t max_bytes_ = 0;
  uint64_t bytes_at_flush_ = 0;     // the file's size after the last commit
  uint64_t bytes_since_flush_ = 0;  // an estimate of what the open transaction adds
  uint64_t cap_reached_ns_ = 0;
  uint64_t rows_since_measure_ = 0;
  std::map<std::string, uint64_t> events_not_written_;
  uint64_t rows_not_written_ = 0;
  std::string disk_error_;  // the error that sent the writer to memory
  // What a failed commit would lose and the in-memory copy must still hold: every meta value
  // (families write their constants once), and the aggregate rows since the last commit (a delta
  // row is written once; without it a slice's totals would miss that interval).
  struct PendingAggregate {
    uint64_t t_ns;
    std::string family, name;
    const char *kind;
    std::string data;
  };
  std::map<std::string, std::string> meta_values_;
  std::vector<PendingAggregate> uncommitted_aggregates_;
  std::map<std::tuple<std::string, std::string, std::string>, int64_t> stream_ids_;
  std::map<std::pair<std::string, std::string>, ColumnCodec> series_codecs_;  // (family, name)

  friend class RecordingReader;
  UniqueStatement meta_stmt_, probe_stmt_, series_stmt_, hist_stmt_, event_stmt_, event_block_stmt_, aggregate_stmt_,
      snapshot_stmt_, page_count_stmt_, page_size_stmt_, stream_insert_stmt_, stream_select_stmt_;
};

class RecordingReader {
 public:
  // Opens and validates a recording; a missing, empty, truncated, foreign or newer file is an
  // Error with kExitUsage and a one-line reason.
  static Result<std::unique_ptr<RecordingReader>> open(const std::string &path);
  // Reads what a writer that went on in memory holds (the writer must outlive the reader).
  static std::unique_ptr<RecordingReader> of_memory(const RecordingWriter &writer);

  std::optional<json> meta(const std::string &key) const;
  json all_meta() const;
  std::vector<ProbeStatus> probes() const;
  // Every read below covers this slice only (the whole window until set). Building a report from
  // a slice is building it from a reader set to that slice.
  void set_slice(const Slice &slice) { slice_ = slice; }
  const Slice &slice() const { return slice_; }
  bool in_slice(uint64_t t_ns) const { return slice_.contains(t_ns); }

  // Rows in time order. Each callback gets (t_ns, data); a series row as the object it was written
  // as (stored by column, core/column_codec.h).
  void for_each_series(const std::string &family, const std::string &name,
                       const std::function<void(uint64_t, const json &)> &fn) const;
  // Series rows from the recording's start to `t_ns`, whatever the slice: a condition judged on
  // its history (a socket stuck in CLOSE_WAIT since before the slice).
  void for_each_series_until(const std::string &family, const std::string &name, uint64_t t_ns,
                             const std::function<void(uint64_t, const json &)> &fn) const;
  void for_each_hist(const std::string &family, const std::string &name,
                     const std::function<void(uint64_t, const json &)> &fn) const;
  // Events of one family (kind empty: every kind), in time order.
  void for_each_event(const std::string &family, const std::string &kind,
                      const std::function<void(uint64_t, const std::string &, const json &)> &fn) const;
  // The family's raw event batches that overlap the slice, in the order written: a reader of the
  // records checks each one's time with in_slice().
  void for_each_event_block(const std::string &family, const std::function<void(const EventBlock &)> &fn) const;
  // Aggregate rows of the slice in time order (see the table above; core/delta_table.h reads them).
  void for_each_delta(const std::string &family, const std::string &name,
                      const std::function<void(uint64_t, const json &)> &fn) const;
  void for_each_gauge(const std::string &family, const std::string &name,
                      const std::function<void(uint64_t, const json &)> &fn) const;
  // Gauge rows from the recording's start to `t_ns` (whatever the slice), in time order: labels
  // and other levels written only when they change.
  void for_each_gauge_until(const std::string &family, const std::string &name, uint64_t t_ns,
                            const std::function<void(uint64_t, const json &)> &fn) const;
  // The last reading at or before the slice's end (it may predate the slice: a level holds until
  // read again), with its time.
  std::optional<std::pair<uint64_t, json>> last_gauge(const std::string &family, const std::string &name) const;
  // The last reading at or before `t_ns`, whatever the slice: the level in force at a slice's start
  // (or at any sample time inside it) when gauges are written only when they change.
  std::optional<std::pair<uint64_t, json>> gauge_at(const std::string &family, const std::string &name,
                                                    uint64_t t_ns) const;

  std::optional<json> snapshot(const std::string &which) const;
  // The column names of a table's or series' stored rows (core/column_codec.h); empty if none.
  std::vector<std::string> columns(const std::string &family, const std::string &name) const;
  const std::string &path() const { return path_; }

 private:
  RecordingReader() = default;
  sqlite3 *handle() const { return borrowed_ ? borrowed_ : db_.get(); }
  static Result<void> check_window_meta(const RecordingReader &r);
  UniqueSqlite db_;
  sqlite3 *borrowed_ = nullptr;
  void series_over(const std::string &family, const std::string &name, const Slice &over,
                   const std::function<void(uint64_t, const json &)> &fn) const;
  void for_each_aggregate(const std::string &family, const std::string &name, const char *kind, const Slice &over,
                          const std::function<void(uint64_t, const json &)> &fn) const;
  std::string path_;
  Slice slice_;
};

}  // namespace triage

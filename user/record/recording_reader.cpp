// The recording's reader: opens and validates a file, and reads its rows back for one slice of
// the window (recording.h).
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>

#include <fmt/format.h>

#include "record/recording.h"
#include "record/sqlite_rows.h"

namespace triage {

using namespace sqlite_rows;

// The window facts every section is computed from. Anything else a damaged row gets wrong is
// caught where it is read (a wrong type throws, which `triage report` turns into exit 2).
Result<void> RecordingReader::check_window_meta(const RecordingReader &r) {
  auto start = r.meta("start_ns");
  if (!start) return usage_error("the window's start (start_ns) is missing");
  if (!start->is_number_unsigned()) return usage_error("the window's start (start_ns) is not a time");
  for (const char *key : {"end_ns", "last_flush_ns"}) {
    auto t = r.meta(key);
    if (!t) continue;
    if (!t->is_number_unsigned()) return usage_error(fmt::format("{} is not a time", key));
    if (t->get<uint64_t>() < start->get<uint64_t>())
      return usage_error(fmt::format("the window's end ({}) is before its start", key));
  }
  if (auto ncpu = r.meta("ncpu"); ncpu && (!ncpu->is_number_integer() || ncpu->get<int64_t>() < 1 ||
                                           ncpu->get<int64_t>() > kMaxRecordedCpus))
    return usage_error(fmt::format("ncpu {} is not a CPU count", ncpu->dump()));
  if (auto interval = r.meta("interval_s");
      interval && (!interval->is_number() || !(interval->get<double>() > 0) || !std::isfinite(interval->get<double>())))
    return usage_error(fmt::format("interval_s {} is not an interval", interval->dump()));

  // Every row's time lies in the window. Events may predate the start by the attach (the iterator
  // pass and probes attached before start_ns is taken) and the last flush may follow the end, so
  // a minute's slack either side; a row outside that (or whose time is not an integer) would put
  // data on a timeline where it never happened, so the recording is refused rather than drawn.
  constexpr uint64_t kSlackNs = 60ull * 1000 * 1000 * 1000;
  const uint64_t start_ns = start->get<uint64_t>();
  const uint64_t earliest = start_ns > kSlackNs ? start_ns - kSlackNs : 0;
  std::optional<uint64_t> latest;
  for (const char *key : {"end_ns", "last_flush_ns"})
    if (auto t = r.meta(key)) {
      const uint64_t end = t->get<uint64_t>();
      latest = std::max(latest.value_or(0), end > UINT64_MAX - kSlackNs ? UINT64_MAX : end + kSlackNs);
    }
  struct TimeColumn {
    const char *table, *column;
  };
  for (const auto &[table, column] : {TimeColumn{"series", "t_ns"}, TimeColumn{"hist", "t_ns"},
                                      TimeColumn{"events", "t_ns"}, TimeColumn{"event_blocks", "t_first"},
                                      TimeColumn{"event_blocks", "t_last"},
                                      TimeColumn{"aggregates", "t_ns"}}) {
    std::string sql = fmt::format("SELECT typeof(min({0})), min({0}), typeof(max({0})), max({0}) FROM {1}", column, table);
    sqlite3_stmt *stmt = nullptr;
    if (sqlite3_prepare_v2(r.handle(), sql.c_str(), -1, &stmt, nullptr) != SQLITE_OK) continue;
    UniqueStatement owner(stmt);
    if (sqlite3_step(stmt) != SQLITE_ROW) continue;
    for (int bound : {0, 2}) {
      std::string type = column_text(stmt, bound);
      if (type == "null") continue;  // an empty table
      if (type != "integer") return usage_error(fmt::format("a {} row's {} is not a time", table, column));
      int64_t t = sqlite3_column_int64(stmt, bound + 1);
      if (t < 0 || static_cast<uint64_t>(t) < earliest || (latest && static_cast<uint64_t>(t) > *latest))
        return usage_error(fmt::format("a {} row's {} ({} ns) lies outside the window ({} to {} ns)", table, column, t,
                                       start_ns, latest ? fmt::format("{}", *latest - kSlackNs) : "unknown"));
    }
  }
  return {};
}

Result<std::unique_ptr<RecordingReader>> RecordingReader::open(const std::string &path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0)
    return usage_error(fmt::format("{}: cannot open: {}", path, std::strerror(errno)));
  if (!S_ISREG(st.st_mode)) return usage_error(fmt::format("{}: not a regular file", path));
  if (st.st_size == 0) return usage_error(fmt::format("{}: empty file, not a triage recording", path));
  if (::access(path.c_str(), R_OK) != 0)
    return usage_error(fmt::format("{}: cannot read: {}", path, std::strerror(errno)));

  std::unique_ptr<RecordingReader> reader(new RecordingReader());
  reader->path_ = path;
  sqlite3 *raw = nullptr;
  // Read-write when allowed, so that SQLite can roll back a transaction a killed recorder left
  // half-written (a hot journal); otherwise read-only.
  int flags = ::access(path.c_str(), W_OK) == 0 ? SQLITE_OPEN_READWRITE : SQLITE_OPEN_READONLY;
  int rc = sqlite3_open_v2(path.c_str(), &raw, flags, nullptr);
  reader->db_.reset(raw);
  if (rc != SQLITE_OK)
    return usage_error(fmt::format("{}: cannot open: {}", path, sqlite_message(raw)));
  sqlite3_busy_timeout(raw, kBusyTimeoutMs);  // a recorder may be committing to it right now

  auto pragma_int = [&](const char *sql, int &out) -> Result<void> {
    sqlite3_stmt *stmt = nullptr;
    if (sqlite3_prepare_v2(raw, sql, -1, &stmt, nullptr) != SQLITE_OK)
      return usage_error(fmt::format("{}: not a triage recording ({})", path, sqlite_message(raw)));
    UniqueStatement owner(stmt);
    if (sqlite3_step(stmt) != SQLITE_ROW)
      return usage_error(fmt::format("{}: not a triage recording ({})", path, sqlite_message(raw)));
    out = sqlite3_column_int(stmt, 0);
    return {};
  };
  int app_id = 0, version = 0;
  if (auto r = pragma_int("PRAGMA application_id", app_id); !r) return r.error();
  if (app_id != kRecordingApplicationId)
    return usage_error(fmt::format("{}: a SQLite file, but not a triage recording", path));
  if (auto r = pragma_int("PRAGMA user_version", version); !r) return r.error();
  if (version > kRecordingSchemaVersion)
    return usage_error(fmt::format("{}: recording schema {} is newer than this triage reads ({}); upgrade triage",
                                   path, version, kRecordingSchemaVersion));
  if (version < 1) return usage_error(fmt::format("{}: recording has no schema version", path));
  if (version < kOldestReadableSchemaVersion)
    return usage_error(fmt::format(
        "{}: recording schema {} holds whole-window totals only; this triage reads schema {} (per-interval "
        "aggregates, any slice of the window): render it with the triage that recorded it",
        path, version, kRecordingSchemaVersion));

  if (version < 4 && sqlite3_exec(raw, sqlite_rows::kSchema3NamedViewsSql, nullptr, nullptr, nullptr) != SQLITE_OK)
    return usage_error(fmt::format("{}: damaged recording: {}", path, sqlite_message(raw)));

  // Every table must be readable end to end: a truncated or damaged file fails here, with one
  // line, instead of halfway through a report.
  int integrity_ok = 0;
  {
    sqlite3_stmt *stmt = nullptr;
    if (sqlite3_prepare_v2(raw, "PRAGMA quick_check", -1, &stmt, nullptr) != SQLITE_OK)
      return usage_error(fmt::format("{}: damaged recording: {}", path, sqlite_message(raw)));
    UniqueStatement owner(stmt);
    int step_rc = sqlite3_step(stmt);
    if (step_rc == SQLITE_ROW && column_text(stmt, 0) == "ok") integrity_ok = 1;
    if (!integrity_ok) {
      std::string why = step_rc == SQLITE_ROW ? column_text(stmt, 0) : sqlite_message(raw);
      // quick_check lists one problem per line ("*** in database main ***\nOn tree page 5 ..."):
      // the error is one line.
      std::replace(why.begin(), why.end(), '\n', ' ');
      return usage_error(fmt::format("{}: damaged recording (truncated or corrupt): {}", path, why));
    }
  }
  for (const char *table : {"meta", "probes", "series", "hist", "events", "event_blocks", "aggregates", "snapshots",
                            "series_named", "hist_named", "aggregates_named"}) {
    std::string sql = fmt::format("SELECT count(*) FROM {}", table);
    sqlite3_stmt *stmt = nullptr;
    if (sqlite3_prepare_v2(raw, sql.c_str(), -1, &stmt, nullptr) != SQLITE_OK)
      return usage_error(fmt::format("{}: damaged recording: table {} missing", path, table));
    UniqueStatement owner(stmt);
    if (sqlite3_step(stmt) != SQLITE_ROW)
      return usage_error(fmt::format("{}: damaged recording: {}", path, sqlite_message(raw)));
  }
  if (auto r = check_window_meta(*reader); !r) return usage_error(fmt::format("{}: damaged recording: {}", path, r.error().message));
  return reader;
}

namespace {
// Runs a query with text parameters and calls `row` for each result row.
void query(sqlite3 *db, const char *sql, std::initializer_list<std::string> params,
           const std::function<void(sqlite3_stmt *)> &row) {
  sqlite3_stmt *stmt = nullptr;
  if (sqlite3_prepare_v2(db, sql, -1, &stmt, nullptr) != SQLITE_OK) return;
  UniqueStatement owner(stmt);
  int index = 1;
  for (const auto &p : params) bind_text(stmt, index++, p);
  while (sqlite3_step(stmt) == SQLITE_ROW) row(stmt);
}

sqlite3_int64 as_sql_time(uint64_t t_ns) { return static_cast<sqlite3_int64>(std::min<uint64_t>(t_ns, INT64_MAX)); }

// Like query(), with the slice's bounds bound after the text parameters (SQL: `t > ? AND t <= ?`).
void query_slice(sqlite3 *db, const char *sql, std::initializer_list<std::string> params, const Slice &slice,
                 const std::function<void(sqlite3_stmt *)> &row) {
  sqlite3_stmt *stmt = nullptr;
  if (sqlite3_prepare_v2(db, sql, -1, &stmt, nullptr) != SQLITE_OK) return;
  UniqueStatement owner(stmt);
  int index = 1;
  for (const auto &p : params) bind_text(stmt, index++, p);
  sqlite3_bind_int64(stmt, index++, as_sql_time(slice.from_ns));
  sqlite3_bind_int64(stmt, index, as_sql_time(slice.to_ns));
  while (sqlite3_step(stmt) == SQLITE_ROW) row(stmt);
}
}  // namespace

std::optional<json> RecordingReader::meta(const std::string &key) const {
  std::optional<json> out;
  query(handle(), "SELECT value FROM meta WHERE key = ?", {key},
        [&](sqlite3_stmt *s) { out = parse_stored(sqlite3_column_text(s, 0)); });
  return out;
}

json RecordingReader::all_meta() const {
  json out = json::object();
  query(handle(), "SELECT key, value FROM meta ORDER BY key", {}, [&](sqlite3_stmt *s) {
    out[column_text(s, 0)] = parse_stored(sqlite3_column_text(s, 1));
  });
  return out;
}

std::vector<ProbeStatus> RecordingReader::probes() const {
  std::vector<ProbeStatus> out;
  query(handle(), "SELECT name, family, hook, method, status, reason FROM probes ORDER BY rowid", {},
        [&](sqlite3_stmt *s) {
          out.push_back({column_text(s, 0), column_text(s, 1), column_text(s, 2), column_text(s, 3),
                         column_text(s, 4), column_text(s, 5)});
        });
  return out;
}

void RecordingReader::for_each_series(const std::string &family, const std::string &name,
                                      const std::function<void(uint64_t, const json &)> &fn) const {
  series_over(family, name, slice_, fn);
}

void RecordingReader::for_each_series_until(const std::string &family, const std::string &name, uint64_t t_ns,
                                            const std::function<void(uint64_t, const json &)> &fn) const {
  series_over(family, name, Slice{0, t_ns}, fn);
}

void RecordingReader::series_over(const std::string &family, const std::string &name, const Slice &over,
                                  const std::function<void(uint64_t, const json &)> &fn) const {
  const auto columns = this->columns(family, name);
  query_slice(handle(),
              "SELECT t_ns, data FROM series_named WHERE family = ? AND name = ? AND t_ns > ? AND t_ns <= ? "
              "ORDER BY t_ns, row_order",
              {family, name}, over, [&](sqlite3_stmt *s) {
          fn(static_cast<uint64_t>(sqlite3_column_int64(s, 0)),
             ColumnCodec::decode(parse_stored(sqlite3_column_text(s, 1)), columns, ColumnCodec::Blanks::kept));
        });
}

void RecordingReader::for_each_hist(const std::string &family, const std::string &name,
                                    const std::function<void(uint64_t, const json &)> &fn) const {
  query_slice(handle(),
              "SELECT t_ns, data FROM hist_named WHERE family = ? AND name = ? AND t_ns > ? AND t_ns <= ? "
              "ORDER BY t_ns, row_order",
              {family, name}, slice_, [&](sqlite3_stmt *s) {
          fn(static_cast<uint64_t>(sqlite3_column_int64(s, 0)), parse_stored(sqlite3_column_text(s, 1)));
        });
}

void RecordingReader::for_each_event(
    const std::string &family, const std::string &kind,
    const std::function<void(uint64_t, const std::string &, const json &)> &fn) const {
  const char *sql = kind.empty() ? "SELECT t_ns, kind, data FROM events WHERE family = ? AND ? = '' "
                                   "AND t_ns > ? AND t_ns <= ? ORDER BY t_ns, rowid"
                                 : "SELECT t_ns, kind, data FROM events WHERE family = ? AND kind = ? "
                                   "AND t_ns > ? AND t_ns <= ? ORDER BY t_ns, rowid";
  query_slice(handle(), sql, {family, kind}, slice_, [&](sqlite3_stmt *s) {
    fn(static_cast<uint64_t>(sqlite3_column_int64(s, 0)), column_text(s, 1),
       parse_stored(sqlite3_column_text(s, 2)));
  });
}

void RecordingReader::for_each_event_block(const std::string &family,
                                           const std::function<void(const EventBlock &)> &fn) const {
  query_slice(handle(),
              "SELECT layout, t_first, t_last, count, data FROM event_blocks WHERE family = ? AND t_last > ? "
              "AND t_first <= ? ORDER BY rowid",
              {family}, slice_, [&](sqlite3_stmt *s) {
          EventBlock block;
          block.layout = column_text(s, 0);
          block.t_first = static_cast<uint64_t>(sqlite3_column_int64(s, 1));
          block.t_last = static_cast<uint64_t>(sqlite3_column_int64(s, 2));
          block.count = static_cast<uint64_t>(sqlite3_column_int64(s, 3));
          block.data = static_cast<const std::byte *>(sqlite3_column_blob(s, 4));
          block.bytes = static_cast<size_t>(sqlite3_column_bytes(s, 4));
          fn(block);
        });
}

void RecordingReader::for_each_aggregate(const std::string &family, const std::string &name, const char *kind,
                                         const Slice &over,
                                         const std::function<void(uint64_t, const json &)> &fn) const {
  query_slice(handle(),
              "SELECT t_ns, data FROM aggregates_named WHERE family = ? AND name = ? AND kind = ? AND t_ns > ? AND "
              "t_ns <= ? ORDER BY t_ns, row_order",
              {family, name, kind}, over, [&](sqlite3_stmt *s) {
                fn(static_cast<uint64_t>(sqlite3_column_int64(s, 0)), parse_stored(sqlite3_column_text(s, 1)));
              });
}

void RecordingReader::for_each_delta(const std::string &family, const std::string &name,
                                     const std::function<void(uint64_t, const json &)> &fn) const {
  for_each_aggregate(family, name, "delta", slice_, fn);
}

void RecordingReader::for_each_gauge(const std::string &family, const std::string &name,
                                     const std::function<void(uint64_t, const json &)> &fn) const {
  for_each_aggregate(family, name, "gauge", slice_, fn);
}

void RecordingReader::for_each_gauge_until(const std::string &family, const std::string &name, uint64_t t_ns,
                                           const std::function<void(uint64_t, const json &)> &fn) const {
  for_each_aggregate(family, name, "gauge", Slice{0, t_ns}, fn);
}

std::optional<std::pair<uint64_t, json>> RecordingReader::last_gauge(const std::string &family,
                                                                     const std::string &name) const {
  return gauge_at(family, name, slice_.to_ns);
}

std::optional<std::pair<uint64_t, json>> RecordingReader::gauge_at(const std::string &family, const std::string &name,
                                                                   uint64_t t_ns) const {
  std::optional<std::pair<uint64_t, json>> out;
  Slice up_to{0, t_ns};
  query_slice(handle(),
              "SELECT t_ns, data FROM aggregates_named WHERE family = ? AND name = ? AND kind = 'gauge' AND t_ns > ? "
              "AND t_ns <= ? ORDER BY t_ns DESC, row_order DESC LIMIT 1",
              {family, name}, up_to, [&](sqlite3_stmt *s) {
                out.emplace(static_cast<uint64_t>(sqlite3_column_int64(s, 0)), parse_stored(sqlite3_column_text(s, 1)));
              });
  return out;
}

std::vector<std::string> RecordingReader::columns(const std::string &family, const std::string &name) const {
  std::vector<std::string> out;
  if (auto stored = meta(ColumnCodec::meta_key(family, name)); stored && stored->is_array())
    for (const auto &c : *stored) out.push_back(c.is_string() ? c.get<std::string>() : "");  // keeps positions
  return out;
}

std::optional<json> RecordingReader::snapshot(const std::string &which) const {
  std::optional<json> out;
  query(handle(), "SELECT data FROM snapshots WHERE which = ?", {which},
        [&](sqlite3_stmt *s) { out = parse_stored(sqlite3_column_text(s, 0)); });
  return out;
}

}  // namespace triage

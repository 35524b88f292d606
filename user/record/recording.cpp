#include "record/recording.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>

#include <fmt/format.h>

#include "core/clock.h"

namespace triage {
namespace {

constexpr const char *kSchemaSql = R"sql(
CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE probes(name TEXT, family TEXT, hook TEXT, method TEXT, status TEXT, reason TEXT);
CREATE TABLE series(t_ns INTEGER NOT NULL, family TEXT NOT NULL, name TEXT NOT NULL, data TEXT NOT NULL);
CREATE TABLE hist(t_ns INTEGER NOT NULL, family TEXT NOT NULL, name TEXT NOT NULL, data TEXT NOT NULL);
CREATE TABLE events(t_ns INTEGER NOT NULL, family TEXT NOT NULL, kind TEXT NOT NULL, data TEXT NOT NULL);
CREATE TABLE event_blocks(family TEXT NOT NULL, layout TEXT NOT NULL, t_first INTEGER NOT NULL,
                          t_last INTEGER NOT NULL, count INTEGER NOT NULL, data BLOB NOT NULL);
CREATE TABLE state(family TEXT NOT NULL, name TEXT NOT NULL, data TEXT NOT NULL, PRIMARY KEY(family, name));
CREATE TABLE snapshots(which TEXT PRIMARY KEY, data TEXT NOT NULL);
CREATE INDEX series_by_name ON series(family, name, t_ns);
CREATE INDEX hist_by_name ON hist(family, name, t_ns);
CREATE INDEX events_by_family ON events(family, t_ns);
)sql";

std::string sqlite_message(sqlite3 *db) { return db ? sqlite3_errmsg(db) : "out of memory"; }

json parse_stored(const unsigned char *text) {
  if (!text) return nullptr;
  // A row that is not valid JSON (a damaged file) reads as null instead of ending the report (the
  // parser's "discarded" value would dump as invalid JSON).
  //
  // A float no writer produces (beyond +-2^63: 1e300, or overflowing to inf) becomes null: the
  // families read numbers with value<uint64_t>(), and converting such a double to an integer is
  // undefined behaviour; null makes that read throw, which `triage report` turns into exit 2.
  json::parser_callback_t tame = [](int, json::parse_event_t event, json &parsed) {
    if (event == json::parse_event_t::value && parsed.is_number_float()) {
      double v = parsed.get<double>();
      if (!std::isfinite(v) || std::fabs(v) >= 9.2e18) parsed = nullptr;
    }
    return true;
  };
  json value = json::parse(reinterpret_cast<const char *>(text), tame, /*allow_exceptions=*/false);
  return value.is_discarded() ? json(nullptr) : value;
}

std::string column_text(sqlite3_stmt *stmt, int col) {
  const unsigned char *text = sqlite3_column_text(stmt, col);
  return text ? reinterpret_cast<const char *>(text) : "";
}

}  // namespace

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
                                      TimeColumn{"event_blocks", "t_last"}}) {
    std::string sql = fmt::format("SELECT typeof(min({0})), min({0}), typeof(max({0})), max({0}) FROM {1}", column, table);
    sqlite3_stmt *stmt = nullptr;
    // Schema 1 has no event_blocks: nothing to check there.
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

// How long a reader or the writer waits for the other's lock before giving up.
constexpr int kBusyTimeoutMs = 2000;

// ---- writer ----

Result<std::unique_ptr<RecordingWriter>> RecordingWriter::create(const std::string &path) {
  // O_EXCL|O_NOFOLLOW: never write through a planted symlink or over an existing file.
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) {
    int err = errno;
    if (err == EEXIST)
      return usage_error(fmt::format("{}: already exists; choose another file with -o", path));
    // A path the user got wrong (no such directory, no permission, a symlink loop) is bad usage;
    // anything else (ENOSPC, EIO) is the machine's trouble.
    bool usage = err == ENOENT || err == ENOTDIR || err == EACCES || err == EPERM || err == EISDIR ||
                 err == ELOOP || err == EROFS || err == ENAMETOOLONG;
    return Error{fmt::format("{}: cannot create: {}", path, std::strerror(err)), usage ? kExitUsage : kExitRuntime};
  }
  ::close(fd);

  std::unique_ptr<RecordingWriter> writer(new RecordingWriter());
  writer->path_ = path;
  sqlite3 *raw = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &raw, SQLITE_OPEN_READWRITE, nullptr);
  writer->db_.reset(raw);
  if (rc != SQLITE_OK)
    return runtime_error(fmt::format("{}: cannot open: {}", path, sqlite_message(raw)));
  // Anyone may read the file while it is written (a watcher, `triage report` on a live window, a
  // copy): a reader's brief shared lock must delay a commit, not fail it. Without a busy timeout
  // SQLite returns SQLITE_BUSY at once, and the recorder died with "database is locked" when a
  // live test polled the file just as the schema was written (1 run in 6).
  sqlite3_busy_timeout(raw, kBusyTimeoutMs);
  std::string pragmas = fmt::format(
      "PRAGMA application_id={}; PRAGMA user_version={}; PRAGMA journal_mode=DELETE; "
      "PRAGMA synchronous=NORMAL;",
      kRecordingApplicationId, kRecordingSchemaVersion);
  if (!writer->exec(pragmas.c_str()) || !writer->exec("BEGIN") || !writer->exec(kSchemaSql) ||
      !writer->exec("COMMIT")) {
    std::string why = writer->first_error_;
    writer.reset();
    ::unlink(path.c_str());  // an empty shell would only look like a recording
    return runtime_error(fmt::format("{}: cannot write the schema: {}", path, why));
  }
  return writer;
}

Result<void> RecordingWriter::continue_in_memory() {
  if (in_memory()) return {};
  disk_error_ = first_error_.empty() ? "write failed" : first_error_;
  if (in_transaction_) {
    sqlite3_exec(db_.get(), "ROLLBACK", nullptr, nullptr, nullptr);
    in_transaction_ = false;
  }
  // Statements belong to the file's connection.
  for (auto *slot : {&meta_stmt_, &probe_stmt_, &series_stmt_, &hist_stmt_, &event_stmt_, &event_block_stmt_,
                     &state_stmt_, &snapshot_stmt_, &page_count_stmt_, &page_size_stmt_})
    slot->reset();
  uint64_t file_bytes = file_size_bytes();
  UniqueSqlite file = std::move(db_);
  file.reset();
  sqlite3 *raw = nullptr;
  int rc = sqlite3_open_v2(":memory:", &raw, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr);
  db_.reset(raw);
  first_error_.clear();
  if (rc != SQLITE_OK || !exec(kSchemaSql)) {
    first_error_ = fmt::format("cannot continue in memory: {}", sqlite_message(raw));
    return runtime_error(first_error_);
  }
  char *quoted = sqlite3_mprintf("ATTACH DATABASE %Q AS disk", path_.c_str());
  bool attached = exec(quoted);
  sqlite3_free(quoted);
  if (attached) {
    exec("BEGIN");
    for (const char *table : {"meta", "probes", "series", "hist", "state", "snapshots"})
      exec(fmt::format("INSERT INTO main.{0} SELECT * FROM disk.{0}", table).c_str());
    if (file_bytes <= kMemoryCapBytes) exec("INSERT INTO main.events SELECT * FROM disk.events");
    exec("COMMIT");
    exec("DETACH DATABASE disk");
  }
  // The copy in memory is bounded on its own.
  max_bytes_ = max_bytes_ ? std::min(max_bytes_, kMemoryCapBytes) : kMemoryCapBytes;
  bytes_at_flush_ = database_bytes();
  bytes_since_flush_ = 0;
  if (failed()) return runtime_error(fmt::format("cannot continue in memory: {}", first_error_));
  return {};
}

bool RecordingWriter::exec(const char *sql) {
  char *message = nullptr;
  if (sqlite3_exec(db_.get(), sql, nullptr, nullptr, &message) == SQLITE_OK) return true;
  if (first_error_.empty()) first_error_ = message ? message : sqlite_message(db_.get());
  sqlite3_free(message);
  return false;
}

sqlite3_stmt *RecordingWriter::prepare(UniqueStatement &slot, const char *sql) {
  if (!slot) {
    sqlite3_stmt *stmt = nullptr;
    if (sqlite3_prepare_v2(db_.get(), sql, -1, &stmt, nullptr) != SQLITE_OK) {
      if (first_error_.empty()) first_error_ = sqlite_message(db_.get());
      return nullptr;
    }
    slot.reset(stmt);
  }
  sqlite3_reset(slot.get());
  sqlite3_clear_bindings(slot.get());
  return slot.get();
}

bool RecordingWriter::step(sqlite3_stmt *stmt) {
  int rc = sqlite3_step(stmt);
  if (rc == SQLITE_DONE) return true;
  if (first_error_.empty()) first_error_ = sqlite_message(db_.get());
  return false;
}

void RecordingWriter::begin_if_needed() {
  if (!in_transaction_ && !failed()) in_transaction_ = exec("BEGIN");
}

namespace {
void bind_text(sqlite3_stmt *stmt, int index, const std::string &text) {
  sqlite3_bind_text(stmt, index, text.data(), static_cast<int>(text.size()), SQLITE_TRANSIENT);
}
std::string dump(const json &value) {
  // Invalid UTF-8 from the traced machine (process names) is replaced, never a throw mid-window.
  return value.dump(-1, ' ', false, json::error_handler_t::replace);
}
}  // namespace

void RecordingWriter::set_meta(const std::string &key, const json &value) {
  begin_if_needed();
  if (failed()) return;
  auto *stmt = prepare(meta_stmt_, "INSERT OR REPLACE INTO meta(key, value) VALUES(?, ?)");
  if (!stmt) return;
  bind_text(stmt, 1, key);
  bind_text(stmt, 2, dump(value));
  step(stmt);
}

void RecordingWriter::set_probes(const std::vector<ProbeStatus> &probes) {
  begin_if_needed();
  if (failed() || !exec("DELETE FROM probes")) return;
  for (const auto &p : probes) {
    auto *stmt = prepare(probe_stmt_,
                         "INSERT INTO probes(name, family, hook, method, status, reason) VALUES(?,?,?,?,?,?)");
    if (!stmt) return;
    bind_text(stmt, 1, p.name);
    bind_text(stmt, 2, p.family);
    bind_text(stmt, 3, p.hook);
    bind_text(stmt, 4, p.method);
    bind_text(stmt, 5, p.status);
    bind_text(stmt, 6, p.reason);
    if (!step(stmt)) return;
  }
}

namespace {
void insert_row(sqlite3_stmt *stmt, uint64_t t_ns, const std::string &a, const std::string &b,
                const std::string &data) {
  sqlite3_bind_int64(stmt, 1, static_cast<sqlite3_int64>(t_ns));
  bind_text(stmt, 2, a);
  bind_text(stmt, 3, b);
  bind_text(stmt, 4, data);
}
}  // namespace

// A row costs its text plus SQLite's record and index overhead; flush() corrects the estimate
// with the real file size, so the error never accumulates past one interval.
constexpr uint64_t kRowOverheadBytes = 48;

void RecordingWriter::set_size_cap(uint64_t max_bytes) {
  max_bytes_ = max_bytes;
  bytes_at_flush_ = database_bytes();
}

uint64_t RecordingWriter::database_bytes() {
  // Counts the pages of the open transaction too (and works for the in-memory copy).
  auto pragma = [&](UniqueStatement &slot, const char *sql) -> uint64_t {
    sqlite3_stmt *stmt = prepare(slot, sql);
    uint64_t value = stmt && sqlite3_step(stmt) == SQLITE_ROW ? static_cast<uint64_t>(sqlite3_column_int64(stmt, 0)) : 0;
    if (stmt) sqlite3_reset(stmt);
    return value;
  };
  return pragma(page_count_stmt_, "PRAGMA page_count") * pragma(page_size_stmt_, "PRAGMA page_size");
}

bool RecordingWriter::fits(uint64_t bytes, uint64_t limit) {
  if (!max_bytes_) return true;
  // The estimate drifts with SQLite's page fill; measure the real size every few hundred rows.
  if (++rows_since_measure_ >= 256) {
    rows_since_measure_ = 0;
    bytes_at_flush_ = database_bytes();
    bytes_since_flush_ = 0;
  }
  if (bytes_at_flush_ + bytes_since_flush_ + bytes <= limit) {
    bytes_since_flush_ += bytes;
    return true;
  }
  if (!cap_reached_ns_) cap_reached_ns_ = monotonic_ns();
  return false;
}

json RecordingWriter::size_cap_json() const {
  return {{"max_bytes", max_bytes_},
          {"reached", cap_reached_ns_ != 0},
          {"reached_ns", cap_reached_ns_},
          {"events_not_written", events_not_written_},
          {"rows_not_written", rows_not_written_}};
}

void RecordingWriter::add_series(uint64_t t_ns, const std::string &family, const std::string &name,
                                 const json &data) {
  begin_if_needed();
  if (failed()) return;
  std::string text = dump(data);
  if (!fits(text.size() + family.size() + name.size() + kRowOverheadBytes, max_bytes_)) {
    rows_not_written_++;
    return;
  }
  auto *stmt = prepare(series_stmt_, "INSERT INTO series(t_ns, family, name, data) VALUES(?,?,?,?)");
  if (!stmt) return;
  insert_row(stmt, t_ns, family, name, text);
  step(stmt);
}

void RecordingWriter::add_hist(uint64_t t_ns, const std::string &family, const std::string &name,
                               const json &data) {
  begin_if_needed();
  if (failed()) return;
  std::string text = dump(data);
  if (!fits(text.size() + family.size() + name.size() + kRowOverheadBytes, max_bytes_)) {
    rows_not_written_++;
    return;
  }
  auto *stmt = prepare(hist_stmt_, "INSERT INTO hist(t_ns, family, name, data) VALUES(?,?,?,?)");
  if (!stmt) return;
  insert_row(stmt, t_ns, family, name, text);
  step(stmt);
}

void RecordingWriter::add_event(uint64_t t_ns, const std::string &family, const std::string &kind,
                                const json &data) {
  begin_if_needed();
  if (failed()) return;
  std::string text = dump(data);
  // Events stop an eighth short of the cap: the interval rows of the rest of the window still fit.
  if (!fits(text.size() + family.size() + kind.size() + kRowOverheadBytes, max_bytes_ - max_bytes_ / 8)) {
    events_not_written_[family]++;
    return;
  }
  auto *stmt = prepare(event_stmt_, "INSERT INTO events(t_ns, family, kind, data) VALUES(?,?,?,?)");
  if (!stmt) return;
  insert_row(stmt, t_ns, family, kind, text);
  step(stmt);
}

void RecordingWriter::add_event_block(const std::string &family, const std::string &layout, uint64_t t_first,
                                      uint64_t t_last, uint64_t count, const void *data, size_t bytes) {
  begin_if_needed();
  if (failed() || count == 0) return;
  // Like add_event: events stop an eighth short of the cap, counted per family.
  if (!fits(bytes + family.size() + layout.size() + kRowOverheadBytes, max_bytes_ - max_bytes_ / 8)) {
    events_not_written_[family] += count;
    return;
  }
  auto *stmt = prepare(event_block_stmt_,
                       "INSERT INTO event_blocks(family, layout, t_first, t_last, count, data) VALUES(?,?,?,?,?,?)");
  if (!stmt) return;
  bind_text(stmt, 1, family);
  bind_text(stmt, 2, layout);
  sqlite3_bind_int64(stmt, 3, static_cast<sqlite3_int64>(t_first));
  sqlite3_bind_int64(stmt, 4, static_cast<sqlite3_int64>(t_last));
  sqlite3_bind_int64(stmt, 5, static_cast<sqlite3_int64>(count));
  // SQLITE_STATIC: the batch buffer outlives the step below.
  sqlite3_bind_blob64(stmt, 6, data, bytes, SQLITE_STATIC);
  step(stmt);
}

void RecordingWriter::put_state(const std::string &family, const std::string &name, const json &data) {
  begin_if_needed();
  if (failed()) return;
  auto *stmt = prepare(state_stmt_, "INSERT OR REPLACE INTO state(family, name, data) VALUES(?,?,?)");
  if (!stmt) return;
  bind_text(stmt, 1, family);
  bind_text(stmt, 2, name);
  bind_text(stmt, 3, dump(data));
  step(stmt);
}

void RecordingWriter::put_snapshot(const std::string &which, const json &data) {
  begin_if_needed();
  if (failed()) return;
  auto *stmt = prepare(snapshot_stmt_, "INSERT OR REPLACE INTO snapshots(which, data) VALUES(?,?)");
  if (!stmt) return;
  bind_text(stmt, 1, which);
  bind_text(stmt, 2, dump(data));
  step(stmt);
}

Result<void> RecordingWriter::flush() {
  if (in_transaction_) {
    in_transaction_ = false;
    if (!failed() && !exec("COMMIT")) exec("ROLLBACK");
  }
  if (failed()) return runtime_error(fmt::format("{}: {}", path_, first_error_));
  if (max_bytes_) {
    bytes_at_flush_ = database_bytes();
    bytes_since_flush_ = 0;
  }
  return {};
}

std::unique_ptr<RecordingReader> RecordingReader::of_memory(const RecordingWriter &writer) {
  std::unique_ptr<RecordingReader> reader(new RecordingReader());
  reader->path_ = writer.path_;
  reader->borrowed_ = writer.db_.get();
  return reader;
}

uint64_t RecordingWriter::file_size_bytes() const {
  struct stat st {};
  return ::stat(path_.c_str(), &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0;
}

// ---- reader ----

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
  for (const char *table : {"meta", "probes", "series", "hist", "events", "state", "snapshots"}) {
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
  query(handle(), "SELECT t_ns, data FROM series WHERE family = ? AND name = ? ORDER BY t_ns, rowid",
        {family, name}, [&](sqlite3_stmt *s) {
          fn(static_cast<uint64_t>(sqlite3_column_int64(s, 0)), parse_stored(sqlite3_column_text(s, 1)));
        });
}

void RecordingReader::for_each_hist(const std::string &family, const std::string &name,
                                    const std::function<void(uint64_t, const json &)> &fn) const {
  query(handle(), "SELECT t_ns, data FROM hist WHERE family = ? AND name = ? ORDER BY t_ns, rowid",
        {family, name}, [&](sqlite3_stmt *s) {
          fn(static_cast<uint64_t>(sqlite3_column_int64(s, 0)), parse_stored(sqlite3_column_text(s, 1)));
        });
}

void RecordingReader::for_each_event(
    const std::string &family, const std::string &kind,
    const std::function<void(uint64_t, const std::string &, const json &)> &fn) const {
  const char *sql = kind.empty()
                        ? "SELECT t_ns, kind, data FROM events WHERE family = ? AND ? = '' ORDER BY t_ns, rowid"
                        : "SELECT t_ns, kind, data FROM events WHERE family = ? AND kind = ? ORDER BY t_ns, rowid";
  query(handle(), sql, {family, kind}, [&](sqlite3_stmt *s) {
    fn(static_cast<uint64_t>(sqlite3_column_int64(s, 0)), column_text(s, 1),
       parse_stored(sqlite3_column_text(s, 2)));
  });
}

void RecordingReader::for_each_event_block(const std::string &family,
                                           const std::function<void(const EventBlock &)> &fn) const {
  // Version-1 recordings have no event_blocks table: the query fails to prepare and yields nothing.
  query(handle(), "SELECT layout, t_first, t_last, count, data FROM event_blocks WHERE family = ? ORDER BY rowid",
        {family}, [&](sqlite3_stmt *s) {
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

std::optional<json> RecordingReader::state(const std::string &family, const std::string &name) const {
  std::optional<json> out;
  query(handle(), "SELECT data FROM state WHERE family = ? AND name = ?", {family, name},
        [&](sqlite3_stmt *s) { out = parse_stored(sqlite3_column_text(s, 0)); });
  return out;
}

std::optional<json> RecordingReader::snapshot(const std::string &which) const {
  std::optional<json> out;
  query(handle(), "SELECT data FROM snapshots WHERE which = ?", {which},
        [&](sqlite3_stmt *s) { out = parse_stored(sqlite3_column_text(s, 0)); });
  return out;
}

}  // namespace triage

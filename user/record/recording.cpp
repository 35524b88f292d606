#include "record/recording.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include <fmt/format.h>

#include "core/clock.h"
#include "core/column_codec.h"
#include "record/sqlite_rows.h"

namespace triage {
namespace {

using namespace sqlite_rows;

constexpr const char *kSchemaSql = R"sql(
CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE probes(name TEXT, family TEXT, hook TEXT, method TEXT, status TEXT, reason TEXT);
CREATE TABLE streams(id INTEGER PRIMARY KEY, family TEXT NOT NULL, name TEXT NOT NULL, kind TEXT NOT NULL,
                     UNIQUE(family, name, kind));
CREATE TABLE series(t_ns INTEGER NOT NULL, stream INTEGER NOT NULL, data TEXT NOT NULL);
CREATE TABLE hist(t_ns INTEGER NOT NULL, stream INTEGER NOT NULL, data TEXT NOT NULL);
CREATE TABLE events(t_ns INTEGER NOT NULL, family TEXT NOT NULL, kind TEXT NOT NULL, data TEXT NOT NULL);
CREATE TABLE event_blocks(family TEXT NOT NULL, layout TEXT NOT NULL, t_first INTEGER NOT NULL,
                          t_last INTEGER NOT NULL, count INTEGER NOT NULL, data BLOB NOT NULL);
CREATE TABLE aggregates(t_ns INTEGER NOT NULL, stream INTEGER NOT NULL, data TEXT NOT NULL);
CREATE TABLE snapshots(which TEXT PRIMARY KEY, data TEXT NOT NULL);
CREATE INDEX series_by_stream ON series(stream, t_ns);
CREATE INDEX hist_by_stream ON hist(stream, t_ns);
CREATE INDEX events_by_family ON events(family, t_ns);
CREATE INDEX aggregates_by_stream ON aggregates(stream, t_ns);
)sql" RECORDING_NAMED_VIEWS_SQL;

}  // namespace


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
                     &aggregate_stmt_, &snapshot_stmt_, &page_count_stmt_, &page_size_stmt_, &stream_insert_stmt_,
                     &stream_select_stmt_})
    slot->reset();
  stream_ids_.clear();  // the rolled-back transaction may have created some; the copy has the committed ones
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
    for (const char *table : {"meta", "probes", "streams", "series", "hist", "aggregates", "snapshots"})
      exec(fmt::format("INSERT INTO main.{0} SELECT * FROM disk.{0}", table).c_str());
    if (file_bytes <= kMemoryCapBytes) exec("INSERT INTO main.events SELECT * FROM disk.events");
    exec("COMMIT");
    exec("DETACH DATABASE disk");
  }
  // What the failed transaction rolled back, or what no transaction could take.
  std::vector<PendingAggregate> replay = std::move(uncommitted_aggregates_);
  uncommitted_aggregates_.clear();
  for (const auto &[key, value] : std::map<std::string, std::string>(meta_values_)) set_meta(key, json::parse(value));
  for (const auto &row : replay) add_aggregate(row.t_ns, row.family, row.name, row.kind, json::parse(row.data));
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


void RecordingWriter::set_meta(const std::string &key, const json &value) {
  meta_values_[key] = dump(value);
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

// A series' fractions to 6 significant digits: a load of 0.00370866850813279 costs 21 bytes an
// interval where 0.00370867 says all a report can show, and series are most of an idle hour.
json stored_series(const json &data) {
  if (data.is_number_float()) {
    double value = data.get<double>();
    if (!std::isfinite(value)) return data;
    char text[32];
    std::snprintf(text, sizeof text, "%.6g", value);
    return std::strtod(text, nullptr);
  }
  if (!data.is_structured()) return data;
  json out = data;
  for (auto &item : out) item = stored_series(item);
  return out;
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

std::optional<int64_t> RecordingWriter::stream_id(const std::string &family, const std::string &name, const char *kind) {
  auto key = std::tuple{family, name, std::string(kind)};
  if (auto it = stream_ids_.find(key); it != stream_ids_.end()) return it->second;
  auto *insert = prepare(stream_insert_stmt_, "INSERT OR IGNORE INTO streams(family, name, kind) VALUES(?,?,?)");
  if (!insert) return std::nullopt;
  bind_text(insert, 1, family);
  bind_text(insert, 2, name);
  bind_text(insert, 3, kind);
  if (!step(insert)) return std::nullopt;
  auto *select = prepare(stream_select_stmt_, "SELECT id FROM streams WHERE family = ? AND name = ? AND kind = ?");
  if (!select) return std::nullopt;
  bind_text(select, 1, family);
  bind_text(select, 2, name);
  bind_text(select, 3, kind);
  if (sqlite3_step(select) != SQLITE_ROW) {
    if (first_error_.empty()) first_error_ = "a stream row written a moment ago cannot be read back";
    return std::nullopt;
  }
  int64_t id = sqlite3_column_int64(select, 0);
  stream_ids_.emplace(std::move(key), id);
  return id;
}

void RecordingWriter::insert_interval_row(UniqueStatement &slot, const char *sql, uint64_t t_ns, int64_t stream,
                                          const std::string &text) {
  auto *stmt = prepare(slot, sql);
  if (!stmt) return;
  sqlite3_bind_int64(stmt, 1, static_cast<sqlite3_int64>(t_ns));
  sqlite3_bind_int64(stmt, 2, stream);
  bind_text(stmt, 3, text);
  step(stmt);
}

void RecordingWriter::add_series(uint64_t t_ns, const std::string &family, const std::string &name,
                                 const json &data) {
  begin_if_needed();
  if (failed()) return;
  json stored = stored_series(data);
  if (stored.is_object()) {
    auto &codec = series_codecs_.try_emplace({family, name}, ColumnCodec::Blanks::kept).first->second;
    stored = codec.encode(stored);
    if (codec.take_grew()) set_meta(ColumnCodec::meta_key(family, name), codec.columns());
  }
  std::string text = dump(stored);
  if (!fits(text.size() + kRowOverheadBytes, max_bytes_)) {
    rows_not_written_++;
    return;
  }
  if (auto stream = stream_id(family, name, "series"))
    insert_interval_row(series_stmt_, "INSERT INTO series(t_ns, stream, data) VALUES(?,?,?)", t_ns, *stream, text);
}

void RecordingWriter::add_hist(uint64_t t_ns, const std::string &family, const std::string &name,
                               const json &data) {
  begin_if_needed();
  if (failed()) return;
  std::string text = dump(data);
  if (!fits(text.size() + kRowOverheadBytes, max_bytes_)) {
    rows_not_written_++;
    return;
  }
  if (auto stream = stream_id(family, name, "hist"))
    insert_interval_row(hist_stmt_, "INSERT INTO hist(t_ns, stream, data) VALUES(?,?,?)", t_ns, *stream, text);
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

void RecordingWriter::add_aggregate(uint64_t t_ns, const std::string &family, const std::string &name,
                                    const char *kind, const json &data) {
  std::string text = dump(data);
  uncommitted_aggregates_.push_back({t_ns, family, name, kind, text});
  begin_if_needed();
  if (failed()) return;
  bytes_since_flush_ += text.size() + kRowOverheadBytes;  // never refused, but it fills the cap
  if (auto stream = stream_id(family, name, kind))
    insert_interval_row(aggregate_stmt_, "INSERT INTO aggregates(t_ns, stream, data) VALUES(?,?,?)", t_ns, *stream,
                        text);
}

void RecordingWriter::add_delta(uint64_t t_ns, const std::string &family, const std::string &name, const json &data) {
  add_aggregate(t_ns, family, name, "delta", data);
}

void RecordingWriter::add_gauge(uint64_t t_ns, const std::string &family, const std::string &name, const json &data) {
  add_aggregate(t_ns, family, name, "gauge", data);
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
  if (failed()) {
    if (in_memory()) uncommitted_aggregates_.clear();  // nowhere left to replay them
    return runtime_error(fmt::format("{}: {}", path_, first_error_));
  }
  uncommitted_aggregates_.clear();
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

}  // namespace triage

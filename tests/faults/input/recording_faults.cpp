// Damaged recordings through the whole `triage report` path (open, build the model, render text,
// JSON and HTML): truncated at every page, random bytes, foreign or newer files, and rows that
// break what the model expects. Each either renders or is exit 2 with one line, never a crash,
// an abort or a hang. The seed is a real recording of this machine (tests/faults/input/data), so every
// key the families really write is exercised.
#include <catch2/catch.hpp>

#include <sqlite3.h>

#include <cmath>
#include <random>
#include <optional>
#include <set>

#include "input_support.h"
#include "record/recording.h"
#include "report/report.h"
#include "scratch_dir.h"

using namespace triage;
using faults::read_file;
using faults::write_file;

namespace {

const std::string kSeed = std::string(TRIAGE_FAULTS_DATA_DIR) + "/recorded.db";

// Renders `path` in every format. Returns how many formats rendered; an error must be exit 2 and
// one line, and the same for every format (the model is built before the format matters).
int render_all_or_refuse(const std::string &path) {
  int rendered = 0;
  for (const char *format : {"text", "json", "html"}) {
    auto out = report_from_file(path, format);
    if (out.ok()) {
      rendered++;
      if (std::string(format) == "json") CHECK(json::accept(*out));
      continue;
    }
    INFO(format << ": " << out.error().message);
    CHECK(out.error().exit_code == kExitUsage);
    CHECK(out.error().message.find('\n') == std::string::npos);
    CHECK(!out.error().message.empty());
  }
  return rendered;
}

void exec_sql(const std::string &path, const std::string &sql) {
  sqlite3 *db = nullptr;
  REQUIRE(sqlite3_open(path.c_str(), &db) == SQLITE_OK);
  char *message = nullptr;
  int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &message);
  INFO(sql << ": " << (message ? message : ""));
  sqlite3_free(message);
  sqlite3_close(db);
  REQUIRE(rc == SQLITE_OK);
}

std::string quoted(const std::string &text) {
  std::string out = "'";
  for (char c : text) out += c == '\'' ? std::string("''") : std::string(1, c);
  return out + "'";
}

// A JSON row of the recording: table, rowid, and the text of its JSON column.
struct StoredRow {
  std::string table, column, identity;
  int64_t rowid;
  json data;
};

// A series, hist or aggregates row's stream, by name (schema 4 rows hold its number).
constexpr const char *kStreamName = "(SELECT family || '/' || name || '/' || kind FROM streams WHERE id = stream)";

std::vector<StoredRow> json_rows(const std::string &path) {
  std::vector<StoredRow> rows;
  sqlite3 *db = nullptr;
  REQUIRE(sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK);
  const std::vector<std::array<std::string, 3>> tables = {{"meta", "value", "key"},
                                                          {"series", "data", kStreamName},
                                                          {"hist", "data", kStreamName},
                                                          {"events", "data", "family || '/' || kind"},
                                                          {"aggregates", "data", kStreamName},
                                                          {"snapshots", "data", "which"}};
  for (const auto &[table, column, identity] : tables) {
    std::string sql = "SELECT rowid, " + identity + ", " + column + " FROM " + table + " ORDER BY rowid";
    sqlite3_stmt *stmt = nullptr;
    REQUIRE(sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr) == SQLITE_OK);
    while (sqlite3_step(stmt) == SQLITE_ROW) {
      rows.push_back({table, column, reinterpret_cast<const char *>(sqlite3_column_text(stmt, 1)),
                      sqlite3_column_int64(stmt, 0),
                      json::parse(reinterpret_cast<const char *>(sqlite3_column_text(stmt, 2)))});
    }
    sqlite3_finalize(stmt);
  }
  sqlite3_close(db);
  return rows;
}

// Every place in `value` a family reads: object members, and the first element of each array
// (elements of one array share a shape).
void collect_pointers(const json &value, const json::json_pointer &here, std::vector<json::json_pointer> &out) {
  if (value.is_object()) {
    for (const auto &[key, member] : value.items()) {
      out.push_back(here / key);
      collect_pointers(member, here / key, out);
    }
  } else if (value.is_array() && !value.empty()) {
    out.push_back(here / 0);
    collect_pointers(value[0], here / 0, out);
  }
}

// Values no writer produces: wrong types, negative and absurd numbers, a huge string.
std::vector<json> hostile_values() {
  return {nullptr,
          "text",
          json::array(),
          json::object(),
          -1,
          std::numeric_limits<int64_t>::min(),
          std::numeric_limits<uint64_t>::max(),
          1e300,
          -1e300,
          // Floats where integers belong: out of range of int (3e9), of int64 (1e19), negative for
          // an unsigned field. Converting them to an integer is undefined behaviour, which UBSan
          // (float-cast-overflow) turns into a failure in the sanitized pass.
          3e9,
          1e19,
          -2.5,
          std::string(1 << 20, 'x')};
}

}  // namespace

TEST_CASE("recording faults: the seed recording renders in every format") {
  ScratchDir dir;
  write_file(dir.file("seed.db"), read_file(kSeed));
  REQUIRE(render_all_or_refuse(dir.file("seed.db")) == 3);
}

TEST_CASE("recording faults: truncated at every page boundary, and mid-page, never a crash") {
  ScratchDir dir;
  std::string bytes = read_file(kSeed);
  // The page size is the big-endian u16 at offset 16 of the header (1 means 65536).
  size_t page = (static_cast<unsigned char>(bytes.at(16)) << 8) | static_cast<unsigned char>(bytes.at(17));
  if (page == 1) page = 65536;
  REQUIRE(page >= 512);
  REQUIRE(bytes.size() % page == 0);
  for (size_t cut = 0; cut < bytes.size(); cut += page) {
    auto path = dir.file("cut.db");
    write_file(path, bytes.substr(0, cut));
    INFO("cut at byte " << cut << " of " << bytes.size());
    // Cut at a page boundary, the file misses pages its tables point to: always refused.
    CHECK(render_all_or_refuse(path) == 0);
    // Cut mid-page, SQLite reads the rest of the last page as zeros: refused or rendered.
    write_file(path, bytes.substr(0, cut + page / 2));
    render_all_or_refuse(path);
  }
}

TEST_CASE("recording faults: random bytes, with and without a SQLite header, are exit 2") {
  ScratchDir dir;
  std::mt19937_64 rng(20261123);
  std::string seed = read_file(kSeed);
  for (size_t size : {1ul, 15ul, 100ul, 4096ul, 65536ul}) {
    for (bool header : {false, true}) {
      std::string bytes(size, '\0');
      for (auto &c : bytes) c = static_cast<char>(rng());
      if (header) bytes.replace(0, std::min<size_t>(100, size), seed.substr(0, std::min<size_t>(100, size)));
      write_file(dir.file("noise.db"), bytes);
      INFO(size << " bytes, header " << header);
      CHECK(render_all_or_refuse(dir.file("noise.db")) == 0);
    }
  }
  // The real file with bytes flipped inside its pages: either still readable or refused.
  for (int round = 0; round < 40; round++) {
    std::string damaged = seed;
    for (int flips = 0; flips < 8; flips++) damaged[100 + rng() % (damaged.size() - 100)] = static_cast<char>(rng());
    write_file(dir.file("flipped.db"), damaged);
    render_all_or_refuse(dir.file("flipped.db"));
  }
}

TEST_CASE("recording faults: foreign, newer, older and gutted files are exit 2 naming why") {
  ScratchDir dir;
  auto refused_with = [&](const std::string &path, const std::string &words) {
    auto out = report_from_file(path, "text");
    REQUIRE(!out.ok());
    INFO(out.error().message);
    CHECK(out.error().exit_code == kExitUsage);
    CHECK(out.error().message.find('\n') == std::string::npos);
    CHECK(out.error().message.find(words) != std::string::npos);
  };
  exec_sql(dir.file("foreign.db"), "CREATE TABLE t(x); INSERT INTO t VALUES(1);");
  refused_with(dir.file("foreign.db"), "not a triage recording");

  // The real recording damaged by one statement, and the words its one-line refusal must contain.
  struct Damage {
    const char *file;
    std::string sql;
    const char *words;
  };
  const Damage damages[] = {
      {"future.db", "PRAGMA user_version=" + std::to_string(kRecordingSchemaVersion + 1), "newer"},
      {"old.db", "PRAGMA user_version=2", "schema 2 holds whole-window totals only"},
      {"no_aggregates.db", "DROP TABLE aggregates", "aggregates"},
      {"no_streams.db", "DROP TABLE streams", "series_named"},
      {"late_aggregate.db", "UPDATE aggregates SET t_ns = t_ns + 3600000000000", "outside the window"},
      {"unversioned.db", "PRAGMA user_version=0", "schema version"},
      {"no_events.db", "DROP TABLE events", "events"},
      {"no_start.db", "DELETE FROM meta WHERE key = 'start_ns'", "start"},
      {"reversed.db", "UPDATE meta SET value = '5' WHERE key = 'end_ns'", "end"},
      {"text_start.db", "UPDATE meta SET value = '\"soon\"' WHERE key = 'start_ns'", "start"},
      {"negative_start.db", "UPDATE meta SET value = '-7' WHERE key = 'start_ns'", "start"},
      {"zero_cpus.db", "UPDATE meta SET value = '-3' WHERE key = 'ncpu'", "ncpu"},
      {"nan_interval.db", "UPDATE meta SET value = 'NaN' WHERE key = 'interval_s'", "interval"},
      // Rows whose time is not in the window would be drawn where nothing happened.
      {"future_hist.db", "UPDATE hist SET t_ns = 9223372036854775807", "outside the window"},
      {"negative_series.db", "UPDATE series SET t_ns = -1", "outside the window"},
      {"text_time.db", "UPDATE series SET t_ns = 'yesterday' WHERE rowid = 2", "not a time"},
      {"early_block.db", "UPDATE event_blocks SET t_first = 5", "outside the window"},
      {"late_block.db", "UPDATE event_blocks SET t_last = t_last + 3600000000000", "outside the window"},
  };
  for (const auto &d : damages) {
    INFO(d.sql);
    write_file(dir.file(d.file), read_file(kSeed));
    exec_sql(dir.file(d.file), d.sql);
    refused_with(dir.file(d.file), d.words);
  }
}

TEST_CASE("recording faults: rows of the wrong SQL type, not JSON, or out of order never crash") {
  ScratchDir dir;
  const std::vector<std::string> damage = {
      "UPDATE series SET t_ns = -1",
      "UPDATE series SET t_ns = 'yesterday'",
      "UPDATE series SET data = x'00ff1b'",
      "UPDATE series SET data = 'NaN'",
      "UPDATE series SET data = '[1,2,3]'",
      "UPDATE hist SET data = '{\"buckets\":[{\"le\":18446744073709551615,\"count\":18446744073709551615}]}'",
      "UPDATE hist SET t_ns = 9223372036854775807",
      "UPDATE events SET data = 'null', kind = ''",
      // Raw event batches: counts that disagree with the bytes, short, empty and foreign blocks.
      "UPDATE event_blocks SET count = 9223372036854775807",
      "UPDATE event_blocks SET count = -1",
      "UPDATE event_blocks SET data = substr(data, 1, 7)",
      "UPDATE event_blocks SET data = x''",
      "UPDATE event_blocks SET data = 'not a blob', layout = 'sched_event/1'",
      "UPDATE event_blocks SET layout = 'sched_event/99'",
      "UPDATE event_blocks SET data = randomblob(72 * 1000), count = 1000",
      "UPDATE event_blocks SET t_first = -5, t_last = 'later'",
      "UPDATE events SET t_ns = -9223372036854775808",
      "UPDATE aggregates SET data = '{}'",
      "UPDATE aggregates SET data = '0'",
      "UPDATE aggregates SET data = '{\"rows\":[0,\"x\",null,{}],\"other\":[],\"other_keys\":-1}'",
      "UPDATE aggregates SET data = '\"' || hex(zeroblob(20000)) || '\"'",
      "UPDATE OR IGNORE streams SET kind = 'gauge' WHERE kind = 'delta'",
      "UPDATE aggregates SET stream = 9999",
      "UPDATE series SET stream = (SELECT id FROM streams WHERE kind = 'delta' LIMIT 1)",
      "UPDATE streams SET name = x'1b5b324a' || id, family = hex(zeroblob(2000))",
      "UPDATE aggregates SET t_ns = 'later'",
      "UPDATE snapshots SET data = '[]'",
      "UPDATE snapshots SET data = '{\"tasks\":{\"zombies\":[{\"pid\":-1,\"comm\":{}}]}}'",
      "UPDATE probes SET status = NULL, name = x'1b5b324a', reason = hex(zeroblob(20000))",
      "UPDATE meta SET value = '1e999' WHERE key = 'interval_s'",
      "UPDATE meta SET value = '{}' WHERE key = 'host'",
      "UPDATE meta SET value = '[]' WHERE key = 'filters'",
      "UPDATE meta SET value = '1e19' WHERE key = 'requested_duration_s'",
      "DELETE FROM meta WHERE key <> 'start_ns'",
      "INSERT INTO aggregates SELECT * FROM aggregates",  // every interval twice
      "UPDATE hist SET data = (SELECT '{\"count\":1,\"buckets\":[' || group_concat('{\"le\":1,\"count\":1}') || ']}' "
      "FROM (WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000) SELECT i FROM n))",
  };
  for (const auto &sql : damage) {
    write_file(dir.file("d.db"), read_file(kSeed));
    exec_sql(dir.file("d.db"), sql);
    INFO(sql.substr(0, 200));
    render_all_or_refuse(dir.file("d.db"));
  }
}

TEST_CASE("recording faults: keys of every row replaced by hostile values never crash") {
  ScratchDir dir;
  std::string seed = read_file(kSeed);
  write_file(dir.file("seed.db"), seed);
  auto rows = json_rows(dir.file("seed.db"));
  REQUIRE(rows.size() > 10);

  // Every (row kind, place, hostile value) is ~12000 reports, ten minutes per run (one report
  // of the seed is ~18 ms). The fuzz_rows target explores them without end; here a fixed sample
  // keeps the run to seconds: each row kind whole (replaced by null, a string, an array), then
  // places picked by a seeded generator, so the same sample runs every time.
  struct Mutation {
    const StoredRow *row;
    json::json_pointer pointer;
    std::optional<json> value;  // nullopt: the key removed
  };
  std::vector<Mutation> sample;
  std::vector<std::pair<const StoredRow *, std::vector<json::json_pointer>>> places;
  std::set<std::string> seen;
  for (const auto &row : rows) {
    if (!seen.insert(row.table + ":" + row.identity).second) continue;  // one row per kind
    std::vector<json::json_pointer> pointers;
    collect_pointers(row.data, json::json_pointer(), pointers);
    for (const json &value : {json(nullptr), json("text"), json::array()})
      sample.push_back({&row, json::json_pointer(), value});
    if (!pointers.empty()) places.emplace_back(&row, std::move(pointers));
  }
  std::mt19937 rng(7);
  auto values = hostile_values();
  for (int i = 0; i < 200 && !places.empty(); i++) {
    const auto &[row, pointers] = places[rng() % places.size()];
    size_t pick = rng() % (values.size() + 1);
    sample.push_back({row, pointers[rng() % pointers.size()],
                      pick == values.size() ? std::nullopt : std::optional<json>(values[pick])});
  }

  size_t refused = 0;
  for (const auto &m : sample) {
    json changed = m.row->data;
    if (m.value) {
      changed[m.pointer] = *m.value;
    } else {
      auto &parent = changed[m.pointer.parent_pointer()];
      parent.is_object() ? (void)parent.erase(m.pointer.back()) : (void)parent.erase(0);
    }
    write_file(dir.file("m.db"), seed);
    exec_sql(dir.file("m.db"), "UPDATE " + m.row->table + " SET " + m.row->column + " = " +
                                   quoted(changed.dump(-1, ' ', false, json::error_handler_t::replace)) +
                                   " WHERE rowid = " + std::to_string(m.row->rowid));
    INFO(m.row->table << " " << m.row->identity << " " << m.pointer.to_string() << " = "
                      << (m.value ? m.value->dump().substr(0, 100) : "(removed)"));
    refused += render_all_or_refuse(dir.file("m.db")) == 0;
  }
  WARN(sample.size() << " mutated recordings, " << refused << " refused with exit 2, the rest rendered");
  CHECK(sample.size() > 300);
}

// libFuzzer, structure-aware: keeps a real recording (tests/faults/input/data/recorded.db) intact as a
// SQLite file and puts the fuzzer's bytes into one of its JSON rows, chosen by the first two
// bytes, then builds and renders the report. Raw file bytes (fuzz_recording) rarely get past
// SQLite's checks; this reaches every family's report code with rows no writer produces.
#include <sqlite3.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "fuzz_support.h"
#include "report/report.h"

namespace {

struct Slot {
  std::string table, column;
  int64_t rowid;
};

struct Seed {
  std::string bytes;
  std::vector<Slot> slots;
};

const Seed &seed() {
  static const Seed s = [] {
    Seed out;
    std::ifstream in(std::string(TRIAGE_FAULTS_DATA_DIR) + "/recorded.db", std::ios::binary);
    out.bytes.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    const std::string path = fuzz::scratch_file("seed.db");
    fuzz::write_bytes(path, out.bytes.data(), out.bytes.size());
    sqlite3 *db = nullptr;
    sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr);
    for (const auto &[table, column] : std::vector<std::pair<std::string, std::string>>{
             {"meta", "value"}, {"series", "data"}, {"hist", "data"}, {"events", "data"}, {"aggregates", "data"},
             {"snapshots", "data"}}) {
      sqlite3_stmt *stmt = nullptr;
      sqlite3_prepare_v2(db, ("SELECT rowid FROM " + table).c_str(), -1, &stmt, nullptr);
      while (stmt && sqlite3_step(stmt) == SQLITE_ROW) out.slots.push_back({table, column, sqlite3_column_int64(stmt, 0)});
      sqlite3_finalize(stmt);
    }
    sqlite3_close(db);
    if (out.slots.empty()) {
      std::fprintf(stderr, "fuzz_rows: no rows in %s/recorded.db\n", TRIAGE_FAULTS_DATA_DIR);
      std::abort();
    }
    return out;
  }();
  return s;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 2) return -1;
  const Seed &s = seed();
  const Slot &slot = s.slots[(data[0] | (data[1] << 8)) % s.slots.size()];
  const std::string path = fuzz::scratch_file("rows.db");
  fuzz::write_bytes(path, s.bytes.data(), s.bytes.size());
  sqlite3 *db = nullptr;
  sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr);
  sqlite3_stmt *stmt = nullptr;
  std::string sql = "UPDATE " + slot.table + " SET " + slot.column + " = ? WHERE rowid = ?";
  sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr);
  sqlite3_bind_text(stmt, 1, reinterpret_cast<const char *>(data + 2), static_cast<int>(size - 2), SQLITE_TRANSIENT);
  sqlite3_bind_int64(stmt, 2, slot.rowid);
  sqlite3_step(stmt);
  sqlite3_finalize(stmt);
  sqlite3_close(db);

  for (const char *format : {"text", "json", "html"}) {
    auto out = triage::report_from_file(path, format);
    if (out.ok()) {
      if (std::string(format) == "json" && !nlohmann::json::accept(*out)) {
        std::fprintf(stderr, "fuzz_rows: the JSON report does not parse\n");
        std::abort();
      }
      continue;
    }
    if (out.error().exit_code != triage::kExitUsage || out.error().message.find('\n') != std::string::npos) {
      std::fprintf(stderr, "fuzz_rows: bad error (exit %d): %s\n", out.error().exit_code, out.error().message.c_str());
      std::abort();
    }
  }
  return 0;
}

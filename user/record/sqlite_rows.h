// SQLite row helpers shared by the recording's writer and reader (record/ only).
#pragma once

#include <sqlite3.h>

#include <cmath>
#include <string>

#include <nlohmann/json.hpp>

namespace triage::sqlite_rows {

using json = nlohmann::json;

// The interval rows with their stream's names, as the reader queries them (and as anyone with a
// sqlite3 shell can): since schema 4 a row names its stream by number (table `streams`). A reader
// of a schema 3 file, whose rows hold the names, makes TEMP views of the same names over them.
#define RECORDING_NAMED_VIEWS_SQL                                                                            \
  "CREATE VIEW series_named AS SELECT series.rowid AS row_order, t_ns, family, name, data FROM series "  \
  "JOIN streams ON streams.id = series.stream AND streams.kind = 'series';\n"                             \
  "CREATE VIEW hist_named AS SELECT hist.rowid AS row_order, t_ns, family, name, data FROM hist "        \
  "JOIN streams ON streams.id = hist.stream AND streams.kind = 'hist';\n"                                 \
  "CREATE VIEW aggregates_named AS SELECT aggregates.rowid AS row_order, t_ns, family, name, kind, data " \
  "FROM aggregates JOIN streams ON streams.id = aggregates.stream;\n"
inline constexpr const char *kSchema3NamedViewsSql =
    "CREATE TEMP VIEW series_named AS SELECT rowid AS row_order, t_ns, family, name, data FROM main.series;"
    "CREATE TEMP VIEW hist_named AS SELECT rowid AS row_order, t_ns, family, name, data FROM main.hist;"
    "CREATE TEMP VIEW aggregates_named AS SELECT rowid AS row_order, t_ns, family, name, kind, data "
    "FROM main.aggregates;";

// How long a reader or the writer waits for the other's lock before giving up.
inline constexpr int kBusyTimeoutMs = 2000;

inline std::string sqlite_message(sqlite3 *db) { return db ? sqlite3_errmsg(db) : "out of memory"; }

inline json parse_stored(const unsigned char *text) {
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

inline std::string column_text(sqlite3_stmt *stmt, int col) {
  const unsigned char *text = sqlite3_column_text(stmt, col);
  return text ? reinterpret_cast<const char *>(text) : "";
}

inline void bind_text(sqlite3_stmt *stmt, int index, const std::string &text) {
  sqlite3_bind_text(stmt, index, text.data(), static_cast<int>(text.size()), SQLITE_TRANSIENT);
}

inline std::string dump(const json &value) {
  // Invalid UTF-8 from the traced machine (process names) is replaced, never a throw mid-window.
  return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace triage::sqlite_rows

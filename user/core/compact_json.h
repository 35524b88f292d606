// A table row's JSON as the recording stores it, compact: the fields at their default are left
// out (most processes have no D-state wait, most devices no discards) and a histogram is stored
// as Log2Histogram::to_stored_array (non-empty slots, sum, min and max). Each
// row lists its fields once, for both directions, so a renamed field cannot drift:
//
//   static constexpr auto fields() { return std::tuple{Field{"pid", &Row::pid}, ...}; }
//   inline void to_json(json &j, const Row &r) { compact_to_json(j, r, Row::fields()); }
//   inline void from_json(const json &j, Row &r) { compact_from_json(j, r, Row::fields()); }
//
// Reading gives the default back for an absent field, so the round trip is exact.
#pragma once

#include <tuple>

#include <nlohmann/json.hpp>

#include "core/histogram.h"

namespace triage {

template <typename Row, typename T>
struct Field {
  const char *name;
  T Row::*member;
};
template <typename Row, typename T>
Field(const char *, T Row::*) -> Field<Row, T>;  // compilers without aggregate deduction (clang < 17)

namespace compact_detail {

template <typename T>
bool is_default(const T &value) {
  return value == T{};
}
inline bool is_default(const Log2Histogram &h) { return h.count() == 0; }

template <typename T>
nlohmann::json stored(const T &value) {
  return value;
}
inline nlohmann::json stored(const Log2Histogram &h) { return h.to_stored_array(); }

template <typename T>
void load(const nlohmann::json &j, T &value) {
  value = j.get<T>();
}
inline void load(const nlohmann::json &j, Log2Histogram &h) { h = Log2Histogram::from_json(j); }

}  // namespace compact_detail

// A histogram as an interval's `hist` row stores it (Log2Histogram::to_stored_array).
inline nlohmann::json compact_histogram(const Log2Histogram &h, std::optional<uint64_t> min_override = std::nullopt) {
  return h.to_stored_array(min_override);
}

template <typename Row, typename Fields>
void compact_to_json(nlohmann::json &j, const Row &row, const Fields &fields) {
  j = nlohmann::json::object();
  std::apply(
      [&](const auto &...f) {
        ((compact_detail::is_default(row.*f.member) ? void() : void(j[f.name] = compact_detail::stored(row.*f.member))),
         ...);
      },
      fields);
}

template <typename Row, typename Fields>
void compact_from_json(const nlohmann::json &j, Row &row, const Fields &fields) {
  row = Row{};
  std::apply(
      [&](const auto &...f) {
        ((j.contains(f.name) ? compact_detail::load(j.at(f.name), row.*f.member) : void()), ...);
      },
      fields);
}

}  // namespace triage

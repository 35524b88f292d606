// A table row's JSON as the recording stores it, compact: the fields at their default are left
// out (most processes have no D-state wait, most devices no discards) and a histogram keeps only
// its non-empty buckets, sum, min and max (the report computes count and percentiles again). Each
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
inline nlohmann::json stored(const Log2Histogram &h) {
  nlohmann::json buckets = nlohmann::json::array();
  for (int slot = 0; slot < Log2Histogram::kSlots; slot++)
    if (h.slot_count(slot)) buckets.push_back({{"le", Log2Histogram::upper_bound(slot)}, {"count", h.slot_count(slot)}});
  return {{"buckets", std::move(buckets)}, {"sum", h.sum()}, {"min", h.min()}, {"max", h.max()}};
}

template <typename T>
void load(const nlohmann::json &j, T &value) {
  value = j.get<T>();
}
inline void load(const nlohmann::json &j, Log2Histogram &h) { h = Log2Histogram::from_json(j); }

}  // namespace compact_detail

// A histogram as an interval's `hist` row stores it: non-empty buckets, sum, min and max
// (Log2Histogram::from_json reads it back; count and percentiles are computed again).
inline nlohmann::json compact_histogram(const Log2Histogram &h) { return compact_detail::stored(h); }

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

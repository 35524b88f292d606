// Keyed tables and counters in the slice model (record/recording.h): the kernel keeps totals
// since attach; the recording keeps, per interval, only what changed; a report sums the intervals
// of whatever slice it covers. A family declares each table's row once, as a struct shared by the
// sampler that writes it and the section builder that reads it:
//
//   struct PortRow {
//     uint16_t port = 0;                      // key
//     std::string comm;                       // a label: the latest interval's wins
//     uint64_t resets = 0, max_ns = 0;
//     Log2Histogram latency;
//     auto key() const { return port; }
//     uint64_t rank() const { return resets; }
//     static constexpr auto counters() { return std::tuple{&PortRow::resets}; }    // summed
//     static constexpr auto peaks() { return std::tuple{&PortRow::max_ns}; }       // the larger wins
//     static constexpr auto histograms() { return std::tuple{&PortRow::latency}; } // merged
//   };
//   NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(PortRow, port, comm, resets, max_ns, latency)
//
// so a renamed field fails to compile instead of reading 0. Each interval's row holds the keys
// that changed, the `kRowsPerInterval` largest by rank() whole and the rest summed into one
// 'other' row: a slice's totals stay exact whatever the number of keys.
#pragma once

#include <algorithm>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/histogram.h"
#include "record/recording.h"

namespace nlohmann {
// Histograms inside table rows; the unit is the section's to say when it renders them.
template <>
struct adl_serializer<triage::Log2Histogram> {
  static void to_json(json &j, const triage::Log2Histogram &h) { j = h.to_json(""); }
  static void from_json(const json &j, triage::Log2Histogram &h) { h = triage::Log2Histogram::from_json(j); }
};
}  // namespace nlohmann

namespace triage {

template <typename Row>
concept TableRow = requires(const Row &row) {
  row.key();
  { row.rank() } -> std::convertible_to<uint64_t>;
  Row::counters();
  Row::peaks();
  Row::histograms();
};

// Keys beyond this, in one interval, are summed into the interval's 'other' row.
inline constexpr size_t kRowsPerInterval = 64;

namespace delta_detail {
template <typename Tuple, typename Fn>
constexpr void for_each_member(const Tuple &members, Fn &&fn) {
  std::apply([&](auto... member) { (fn(member), ...); }, members);
}
}  // namespace delta_detail

// What changed between two readings of one key's totals (`before` null: the key is new). A
// counter lower than before was read short (a per-CPU copy missed) or restarted: nothing is
// counted until it passes the old total again, so that the intervals still add up to the last
// total. A peak counts only when it rose: only then is it known to fall in this interval.
template <TableRow Row>
Row interval_change(const Row &now, const Row *before) {
  Row change = now;
  if (!before) return change;
  delta_detail::for_each_member(Row::counters(), [&](auto m) {
    change.*m = now.*m > before->*m ? now.*m - before->*m : 0;
  });
  delta_detail::for_each_member(Row::peaks(), [&](auto m) { change.*m = now.*m > before->*m ? now.*m : 0; });
  delta_detail::for_each_member(Row::histograms(), [&](auto m) { change.*m = (now.*m).minus(before->*m); });
  return change;
}

// The baseline for the next interval: totals never step back (see interval_change).
template <TableRow Row>
Row next_baseline(const Row &now, const Row *before) {
  Row base = now;
  if (!before) return base;
  delta_detail::for_each_member(Row::counters(), [&](auto m) { base.*m = std::max(now.*m, before->*m); });
  delta_detail::for_each_member(Row::peaks(), [&](auto m) { base.*m = std::max(now.*m, before->*m); });
  delta_detail::for_each_member(Row::histograms(), [&](auto m) {
    if ((now.*m).count() < (before->*m).count()) base.*m = before->*m;
  });
  return base;
}

template <TableRow Row>
bool changed(const Row &change) {
  bool any = false;
  delta_detail::for_each_member(Row::counters(), [&](auto m) { any = any || change.*m != 0; });
  delta_detail::for_each_member(Row::peaks(), [&](auto m) { any = any || change.*m != 0; });
  delta_detail::for_each_member(Row::histograms(), [&](auto m) { any = any || (change.*m).count() != 0; });
  return any;
}

// `later` added to `total`: counters summed, peaks the larger, histograms merged, labels from later.
template <TableRow Row>
void accumulate(Row &total, const Row &later) {
  Row merged = later;
  delta_detail::for_each_member(Row::counters(), [&](auto m) { merged.*m = total.*m + later.*m; });
  delta_detail::for_each_member(Row::peaks(), [&](auto m) { merged.*m = std::max(total.*m, later.*m); });
  delta_detail::for_each_member(Row::histograms(), [&](auto m) {
    merged.*m = total.*m;
    (merged.*m).merge(later.*m);
  });
  total = std::move(merged);
}

template <TableRow Row>
bool rank_before(const Row &a, const Row &b) {
  if (a.rank() != b.rank()) return a.rank() > b.rank();
  return a.key() < b.key();
}

// The writer's side: one per table, fed the kernel's totals each interval.
template <TableRow Row>
class DeltaTable {
 public:
  using Key = std::decay_t<decltype(std::declval<const Row &>().key())>;

  DeltaTable(std::string family, std::string name) : family_(std::move(family)), name_(std::move(name)) {}

  // `totals`: every key's totals since attach, read now. Writes nothing when nothing changed.
  void write(uint64_t t_ns, const std::vector<Row> &totals, RecordingWriter &out) {
    std::vector<Row> changes;
    std::map<Key, Row> baseline;
    for (const Row &now : totals) {
      auto it = last_.find(now.key());
      const Row *before = it == last_.end() ? nullptr : &it->second;
      Row change = interval_change(now, before);
      if (changed(change)) changes.push_back(std::move(change));
      baseline.insert_or_assign(now.key(), next_baseline(now, before));
    }
    last_ = std::move(baseline);
    if (changes.empty()) return;
    std::sort(changes.begin(), changes.end(), rank_before<Row>);
    nlohmann::json rows = nlohmann::json::array();
    for (size_t i = 0; i < changes.size() && i < kRowsPerInterval; i++) rows.push_back(changes[i]);
    nlohmann::json row = {{"rows", std::move(rows)}};
    if (changes.size() > kRowsPerInterval) {
      Row other{};
      for (size_t i = kRowsPerInterval; i < changes.size(); i++) accumulate(other, changes[i]);
      row["other"] = other;
      row["other_keys"] = changes.size() - kRowsPerInterval;
    }
    out.add_delta(t_ns, family_, name_, row);
  }

 private:
  std::string family_, name_;
  std::map<Key, Row> last_;
};

// The reader's side: a table summed over the reader's slice.
template <TableRow Row>
struct SlicedTable {
  std::vector<Row> rows;        // every key some interval kept whole, largest rank() first
  std::optional<Row> other;     // what intervals kept only as a sum (labels meaningless)
  uint64_t other_keys = 0;      // the most keys one interval summed there
  uint64_t intervals = 0;       // intervals in the slice where anything changed
  // Keys in the slice: at least the rows, at most rows + other_keys more.
  uint64_t key_count() const { return rows.size() + other_keys; }
};

template <TableRow Row>
SlicedTable<Row> read_table(const RecordingReader &recording, const std::string &family, const std::string &name) {
  using Key = typename DeltaTable<Row>::Key;
  std::map<Key, Row> by_key;
  SlicedTable<Row> table;
  recording.for_each_delta(family, name, [&](uint64_t, const nlohmann::json &interval) {
    table.intervals++;
    for (const auto &stored : interval.at("rows")) {
      Row row = stored.template get<Row>();
      auto [it, fresh] = by_key.try_emplace(row.key(), row);
      if (!fresh) accumulate(it->second, row);
    }
    if (interval.contains("other")) {
      Row other = interval.at("other").template get<Row>();
      if (table.other) accumulate(*table.other, other);
      else table.other = std::move(other);
      table.other_keys = std::max(table.other_keys, interval.value("other_keys", uint64_t{0}));
    }
  });
  for (auto &[key, row] : by_key) table.rows.push_back(std::move(row));
  std::sort(table.rows.begin(), table.rows.end(), rank_before<Row>);
  return table;
}

// A table of one row (a family's counters): the sum of the slice, or all zeros.
template <TableRow Row>
Row read_counters(const RecordingReader &recording, const std::string &family, const std::string &name) {
  auto table = read_table<Row>(recording, family, name);
  return table.rows.empty() ? Row{} : table.rows.front();
}

// The one-row table for counters: key() is always the same.
struct SingleKey {
  int key() const { return 0; }
};

}  // namespace triage

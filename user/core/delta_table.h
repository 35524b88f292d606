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
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/column_codec.h"
#include "core/compact_json.h"
#include "core/histogram.h"
#include "record/recording.h"

namespace nlohmann {
// Histograms inside table rows, stored as the hist table stores them (to_stored_array).
template <>
struct adl_serializer<triage::Log2Histogram> {
  static void to_json(json &j, const triage::Log2Histogram &h) { j = h.to_stored_array(); }
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

// A row may name its labels: what describes a key rather than counts it (a process's name and
// cgroup, a disk's name). They are stored apart, as a gauge written only when they change:
//   static constexpr auto labels() { return std::tuple{&ProcessRow::comm, &ProcessRow::cgroup}; }
template <typename Row>
concept LabelledRow = TableRow<Row> && requires { Row::labels(); };

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
void clear_labels(Row &row) {
  if constexpr (LabelledRow<Row>)
    delta_detail::for_each_member(Row::labels(), [&](auto m) { row.*m = std::decay_t<decltype(row.*m)>{}; });
}

template <TableRow Row>
bool same_labels(const Row &a, const Row &b) {
  bool same = true;
  if constexpr (LabelledRow<Row>)
    delta_detail::for_each_member(Row::labels(), [&](auto m) { same = same && a.*m == b.*m; });
  return same;
}

template <TableRow Row>
void copy_labels(Row &to, const Row &from) {
  if constexpr (LabelledRow<Row>) delta_detail::for_each_member(Row::labels(), [&](auto m) { to.*m = from.*m; });
}

// The key and labels of a row: its counters, peaks and histograms at zero.
template <TableRow Row>
Row identity_of(const Row &row) {
  Row out = row;
  delta_detail::for_each_member(Row::counters(), [&](auto m) { out.*m = 0; });
  delta_detail::for_each_member(Row::peaks(), [&](auto m) { out.*m = 0; });
  delta_detail::for_each_member(Row::histograms(), [&](auto m) { out.*m = std::decay_t<decltype(out.*m)>{}; });
  return out;
}

template <TableRow Row>
bool rank_before(const Row &a, const Row &b) {
  if (a.rank() != b.rank()) return a.rank() > b.rank();
  return a.key() < b.key();
}

// The writer's side: one per table, fed the kernel's totals each interval. Labels go to the gauge
// "<table>/labels", for a key only when they differ from what was last written for it.
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
    if constexpr (LabelledRow<Row>)
      std::erase_if(labels_written_, [&](const auto &entry) { return !last_.contains(entry.first); });
    if (changes.empty()) return;
    std::sort(changes.begin(), changes.end(), rank_before<Row>);
    nlohmann::json rows = nlohmann::json::array(), labels = nlohmann::json::array();
    for (size_t i = 0; i < changes.size() && i < kRowsPerInterval; i++) {
      Row &row = changes[i];
      Row identity = identity_of(row);
      clear_labels(row);
      // The counters first: a new table's columns then put the labels after them, where a row's
      // trailing blanks are left out.
      rows.push_back(codec_.encode(row));
      if constexpr (LabelledRow<Row>) {
        auto [written, fresh] = labels_written_.try_emplace(identity.key(), identity);
        if (fresh || !same_labels(written->second, identity)) {
          labels.push_back(codec_.encode(identity));
          written->second = identity;
        }
      }
    }
    nlohmann::json row = {{"rows", std::move(rows)}};
    if (changes.size() > kRowsPerInterval) {
      Row other{};
      for (size_t i = kRowsPerInterval; i < changes.size(); i++) accumulate(other, changes[i]);
      clear_labels(other);
      row["other"] = codec_.encode(other);
      row["other_keys"] = changes.size() - kRowsPerInterval;
    }
    if (codec_.take_grew()) out.set_meta(ColumnCodec::meta_key(family_, name_), codec_.columns());
    if (!labels.empty()) out.add_gauge(t_ns, family_, name_ + "/labels", {{"rows", std::move(labels)}});
    out.add_delta(t_ns, family_, name_, row);
  }

 private:
  std::string family_, name_;
  std::map<Key, Row> last_;
  std::map<Key, Row> labels_written_;  // the labels last stored per key (LabelledRow only)
  ColumnCodec codec_;
};

// One interval of a table as stored (labels not applied: read_table applies them).
template <TableRow Row>
struct IntervalRows {
  std::vector<Row> rows;
  std::optional<Row> other;
  uint64_t other_keys = 0;
};

// A table's stored rows back to their struct. A row that lists its fields() is filled straight
// from its array, column by column (an hour's sched table is 230,000 rows: building a JSON object
// for each first was most of the report's time); any other row, or an object (schema 3), through
// its JSON object.
template <TableRow Row>
class RowDecoder {
 public:
  explicit RowDecoder(std::vector<std::string> columns) : columns_(std::move(columns)) {
    if constexpr (requires { Row::fields(); })
      for (const auto &column : columns_) {
        Setter setter = nullptr;
        std::apply([&](const auto &...field) {
          ((column == field.name ? void(setter = [member = field.member](const nlohmann::json &j, Row &row) {
             compact_detail::load(j, row.*member);
           })
                                 : void()),
           ...);
        }, Row::fields());
        setters_.push_back(std::move(setter));
      }
  }

  Row operator()(const nlohmann::json &stored) const {
    if constexpr (requires { Row::fields(); })
      if (stored.is_array()) {
        Row row{};
        for (size_t i = 0; i < stored.size() && i < setters_.size(); i++)
          if (setters_[i] && !(stored[i].is_number() && stored[i] == 0)) setters_[i](stored[i], row);
        return row;
      }
    return ColumnCodec::decode(stored, columns_).template get<Row>();
  }

 private:
  using Setter = std::function<void(const nlohmann::json &, Row &)>;
  std::vector<std::string> columns_;
  std::vector<Setter> setters_;
};

// The table's intervals in the reader's slice, decoded, in time order.
template <TableRow Row, typename Fn>
void for_each_interval(const RecordingReader &recording, const std::string &family, const std::string &name, Fn &&fn) {
  const RowDecoder<Row> decode(recording.columns(family, name));
  recording.for_each_delta(family, name, [&](uint64_t t, const nlohmann::json &interval) {
    IntervalRows<Row> decoded;
    for (const auto &stored : interval.at("rows")) decoded.rows.push_back(decode(stored));
    if (interval.contains("other")) {
      decoded.other = decode(interval.at("other"));
      decoded.other_keys = interval.value("other_keys", uint64_t{0});
    }
    fn(t, decoded);
  });
}

// Every key's labels as last written at or before the slice's end (it may predate the slice).
template <TableRow Row>
std::map<typename DeltaTable<Row>::Key, Row> read_labels(const RecordingReader &recording, const std::string &family,
                                                         const std::string &name) {
  std::map<typename DeltaTable<Row>::Key, Row> labels;
  if constexpr (LabelledRow<Row>) {
    const RowDecoder<Row> decode(recording.columns(family, name));
    recording.for_each_gauge_until(family, name + "/labels", recording.slice().to_ns,
                                   [&](uint64_t, const nlohmann::json &gauge) {
                                     for (const auto &stored : gauge.at("rows")) {
                                       Row row = decode(stored);
                                       labels.insert_or_assign(row.key(), std::move(row));
                                     }
                                   });
  }
  return labels;
}

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

// `each_interval`, when given, also sees every interval as stored (labels not applied): a section
// that needs both reads the table once.
template <TableRow Row>
SlicedTable<Row> read_table(const RecordingReader &recording, const std::string &family, const std::string &name,
                            const std::function<void(uint64_t, const IntervalRows<Row> &)> &each_interval = {}) {
  using Key = typename DeltaTable<Row>::Key;
  std::map<Key, Row> by_key;
  SlicedTable<Row> table;
  for_each_interval<Row>(recording, family, name, [&](uint64_t t, IntervalRows<Row> &interval) {
    if (each_interval) each_interval(t, interval);
    table.intervals++;
    for (auto &row : interval.rows) {
      auto [it, fresh] = by_key.try_emplace(row.key(), row);
      if (!fresh) accumulate(it->second, row);
    }
    if (interval.other) {
      if (table.other) accumulate(*table.other, *interval.other);
      else table.other = std::move(interval.other);
      table.other_keys = std::max(table.other_keys, interval.other_keys);
    }
  });
  // Schema 3 kept labels in the rows (the newest interval's won); since 4 they are a gauge.
  for (const auto &[key, labelled] : read_labels<Row>(recording, family, name))
    if (auto it = by_key.find(key); it != by_key.end()) copy_labels(it->second, labelled);
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

// Outlier lists in a report section: when there are more than a report can show, keep the worst.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

#include <nlohmann/json.hpp>

namespace triage {

// Keeps the `limit` rows with the largest `key` (e.g. "duration_ns"), back in time order ("t").
inline nlohmann::json keep_worst(const nlohmann::json &rows, size_t limit, const char *key) {
  if (rows.size() <= limit) return rows;
  std::vector<nlohmann::json> kept(rows.begin(), rows.end());
  std::nth_element(kept.begin(), kept.begin() + static_cast<std::ptrdiff_t>(limit), kept.end(),
                   [key](const nlohmann::json &a, const nlohmann::json &b) {
                     return a.value(key, 0ULL) > b.value(key, 0ULL);
                   });
  kept.resize(limit);
  std::sort(kept.begin(), kept.end(), [](const nlohmann::json &a, const nlohmann::json &b) { return a["t"] < b["t"]; });
  return kept;
}

// When a section's outliers began and ended, over all of them: the list keeps only the worst, and
// the onset is what a reader looks for first.
class OutlierSpan {
 public:
  void add(double t) {
    first_t_ = any_ ? std::min(first_t_, t) : t;
    last_t_ = any_ ? std::max(last_t_, t) : t;
    any_ = true;
  }
  // `outliers_first_t` and `outliers_last_t` (seconds from the window's start), null when none.
  void put(nlohmann::json &section) const {
    section["outliers_first_t"] = any_ ? nlohmann::json(first_t_) : nlohmann::json(nullptr);
    section["outliers_last_t"] = any_ ? nlohmann::json(last_t_) : nlohmann::json(nullptr);
  }

 private:
  bool any_ = false;
  double first_t_ = 0, last_t_ = 0;
};

// keep_worst()'s choice made while the rows stream out of the recording: holds at most `limit` rows,
// so that building a report costs memory in proportion to what it shows, not to the number of
// events recorded (a storm leaves millions).
class WorstRows {
 public:
  explicit WorstRows(size_t limit) : limit_(limit) {}

  // `make_row` builds the row only when it is kept.
  template <class MakeRow>
  void offer(uint64_t value, MakeRow &&make_row) {
    if (limit_ == 0) return;
    if (heap_.size() == limit_ && value <= heap_.front().value) return;
    heap_.push_back({value, next_++, make_row()});
    std::push_heap(heap_.begin(), heap_.end(), kGreater);
    if (heap_.size() > limit_) {
      std::pop_heap(heap_.begin(), heap_.end(), kGreater);
      heap_.pop_back();
    }
  }

  // The kept rows in time order ("t"), as keep_worst() returns them.
  nlohmann::json take() {
    std::sort(heap_.begin(), heap_.end(), [](const Entry &a, const Entry &b) {
      return a.row["t"] < b.row["t"] || (a.row["t"] == b.row["t"] && a.seq < b.seq);
    });
    nlohmann::json out = nlohmann::json::array();
    for (auto &e : heap_) out.push_back(std::move(e.row));
    heap_.clear();
    return out;
  }

 private:
  struct Entry {
    uint64_t value;
    uint64_t seq;  // ties: the earlier row stays, as a stable choice would keep it
    nlohmann::json row;
  };
  // A min-heap on value: the front is the row that goes first.
  static constexpr auto kGreater = [](const Entry &a, const Entry &b) {
    return a.value > b.value || (a.value == b.value && a.seq < b.seq);
  };
  size_t limit_;
  uint64_t next_ = 0;
  std::vector<Entry> heap_;
};

}  // namespace triage

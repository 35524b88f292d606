// Log2 histograms as the report shows them: {unit, count, sum, min, max, p50, p90, p99,
// buckets: [{le, count}]}. Slot k holds values below 2^k (see bpf/common/hist.h).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "common/hist.h"

namespace triage {

// A percentile or rate as the report shows it: to 0.01, not the 15 digits of its computation.
double round_hundredth(double value);

class Log2Histogram {
 public:
  static constexpr int kSlots = TRIAGE_HIST_SLOTS;

  static uint32_t slot_of(uint64_t value);  // bit length, capped at the last slot
  static uint64_t upper_bound(int slot) { return slot >= 63 ? UINT64_MAX : (1ULL << slot); }

  void add(uint64_t value);
  void merge(const triage_log2_hist &kernel_copy);
  void merge(const Log2Histogram &other);
  // this - earlier, for per-interval deltas of cumulative histograms (min/max kept from this).
  Log2Histogram minus(const Log2Histogram &earlier) const;

  uint64_t count() const { return count_; }
  uint64_t sum() const { return sum_; }
  uint64_t min() const { return count_ ? min_ : 0; }
  uint64_t max() const { return max_; }
  uint64_t slot_count(int slot) const { return slots_[slot]; }
  // The value below which `fraction` of the samples fall, interpolated linearly inside its slot
  // and clamped to [min, max].
  double percentile(double fraction) const;

  nlohmann::json to_json(const std::string &unit) const;
  // Reads the report's form, and the recording's (to_stored_array).
  static Log2Histogram from_json(const nlohmann::json &j);
  // As a recording stores it since schema 4: [sum, min, max, le, count, le, count, ...] with the
  // non-empty slots only; count and percentiles are computed again on reading. `min_override`:
  // a better-known minimum than the slots give (see tcp's interval histograms).
  nlohmann::json to_stored_array(std::optional<uint64_t> min_override = std::nullopt) const;

 private:
  static Log2Histogram from_stored_array(const nlohmann::json &j);
  void add_bucket(uint64_t le, uint64_t count);  // a stored bucket: `count` values below `le`
  std::array<uint64_t, kSlots> slots_{};
  uint64_t count_ = 0, sum_ = 0, min_ = UINT64_MAX, max_ = 0;
};

}  // namespace triage

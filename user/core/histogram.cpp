#include "core/histogram.h"

#include <algorithm>
#include <bit>
#include <cmath>

namespace triage {

uint32_t Log2Histogram::slot_of(uint64_t value) {
  uint32_t slot = static_cast<uint32_t>(std::bit_width(value));
  return std::min<uint32_t>(slot, kSlots - 1);
}

void Log2Histogram::add(uint64_t value) {
  slots_[slot_of(value)]++;
  count_++;
  sum_ += value;
  min_ = std::min(min_, value);
  max_ = std::max(max_, value);
}

void Log2Histogram::merge(const triage_log2_hist &k) {
  for (int i = 0; i < kSlots; i++) slots_[i] += k.slots[i];
  count_ += k.count;
  sum_ += k.sum;
  max_ = std::max<uint64_t>(max_, k.max);
  if (k.min_plus_one) min_ = std::min<uint64_t>(min_, k.min_plus_one - 1);
}

void Log2Histogram::merge(const Log2Histogram &o) {
  for (int i = 0; i < kSlots; i++) slots_[i] += o.slots_[i];
  count_ += o.count_;
  sum_ += o.sum_;
  max_ = std::max(max_, o.max_);
  min_ = std::min(min_, o.min_);
}

Log2Histogram Log2Histogram::minus(const Log2Histogram &earlier) const {
  Log2Histogram d;
  for (int i = 0; i < kSlots; i++) {
    d.slots_[i] = slots_[i] >= earlier.slots_[i] ? slots_[i] - earlier.slots_[i] : 0;
    d.count_ += d.slots_[i];
  }
  d.sum_ = sum_ >= earlier.sum_ ? sum_ - earlier.sum_ : 0;
  // The interval's extremes are unknown from two cumulative copies: bound them by its slots.
  for (int i = 0; i < kSlots; i++)
    if (d.slots_[i]) {
      d.min_ = i == 0 ? 0 : upper_bound(i - 1);
      break;
    }
  for (int i = kSlots - 1; i >= 0; i--)
    if (d.slots_[i]) {
      d.max_ = std::min(max_, upper_bound(i));
      break;
    }
  return d;
}

double Log2Histogram::percentile(double fraction) const {
  if (count_ == 0) return 0;
  double rank = fraction * static_cast<double>(count_);
  double seen = 0;
  for (int i = 0; i < kSlots; i++) {
    if (!slots_[i]) continue;
    if (seen + static_cast<double>(slots_[i]) >= rank) {
      double lo = i == 0 ? 0.0 : static_cast<double>(upper_bound(i - 1));
      double hi = static_cast<double>(upper_bound(i));
      double within = (rank - seen) / static_cast<double>(slots_[i]);
      double value = lo + within * (hi - lo);
      return std::clamp(value, static_cast<double>(min()), static_cast<double>(max_));
    }
    seen += static_cast<double>(slots_[i]);
  }
  return static_cast<double>(max_);
}

double round_hundredth(double value) { return std::round(value * 100.0) / 100.0; }

nlohmann::json Log2Histogram::to_json(const std::string &unit) const {
  nlohmann::json buckets = nlohmann::json::array();
  int last = -1;
  for (int i = 0; i < kSlots; i++)
    if (slots_[i]) last = i;
  for (int i = 0; i <= last; i++) buckets.push_back({{"le", upper_bound(i)}, {"count", slots_[i]}});
  return {{"unit", unit},
          {"count", count_},
          {"sum", sum_},
          {"min", min()},
          {"max", max_},
          {"p50", round_hundredth(percentile(0.50))},
          {"p90", round_hundredth(percentile(0.90))},
          {"p99", round_hundredth(percentile(0.99))},
          {"buckets", buckets}};
}

Log2Histogram Log2Histogram::from_json(const nlohmann::json &j) {
  Log2Histogram h;
  if (j.is_array()) return from_stored_array(j);
  if (!j.is_object()) return h;
  if (j.contains("buckets") && j["buckets"].is_array()) {
    for (const auto &b : j["buckets"]) {
      h.add_bucket(b.value("le", uint64_t{0}), b.value("count", uint64_t{0}));
    }
  }
  h.sum_ = j.value("sum", uint64_t{0});
  h.max_ = j.value("max", uint64_t{0});
  h.min_ = h.count_ ? j.value("min", uint64_t{0}) : UINT64_MAX;
  return h;
}

void Log2Histogram::add_bucket(uint64_t le, uint64_t count) {
  int slot = le == 0 ? 0 : std::min<int>(std::bit_width(le) - 1, kSlots - 1);
  slots_[slot] += count;
  count_ += count;
}

Log2Histogram Log2Histogram::from_stored_array(const nlohmann::json &j) {
  Log2Histogram h;
  auto number = [&](size_t i) { return i < j.size() && j[i].is_number_unsigned() ? j[i].get<uint64_t>() : 0; };
  for (size_t i = 3; i + 1 < j.size(); i += 2) h.add_bucket(number(i), number(i + 1));
  h.sum_ = number(0);
  h.max_ = number(2);
  h.min_ = h.count_ ? number(1) : UINT64_MAX;
  return h;
}

nlohmann::json Log2Histogram::to_stored_array(std::optional<uint64_t> min_override) const {
  nlohmann::json out = {sum_, min_override.value_or(min()), max_};
  for (int slot = 0; slot < kSlots; slot++)
    if (slots_[slot]) {
      out.push_back(upper_bound(slot));
      out.push_back(slots_[slot]);
    }
  return out;
}

}  // namespace triage

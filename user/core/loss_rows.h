// Every family's event account in the recording, per interval (core/delta_table.h): the recorder
// writes it from Family::loss() after each sample, so a slice's lost_events add up like any counter.
#pragma once

#include <cstdint>
#include <string>
#include <tuple>

#include "core/delta_table.h"

namespace triage {

inline constexpr const char *kLossTable = "loss";
inline constexpr const char *kDroppedTable = "dropped";

struct LossRow : SingleKey {
  uint64_t produced = 0, delivered = 0, lost = 0;
  uint64_t rank() const { return produced; }
  static constexpr auto counters() { return std::tuple{&LossRow::produced, &LossRow::delivered, &LossRow::lost}; }
  static constexpr auto peaks() { return std::tuple{}; }
  static constexpr auto histograms() { return std::tuple{}; }
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(LossRow, produced, delivered, lost)

// Keys a bounded map could not take, by the counter that counted them (proc_map_full, ...).
struct DroppedRow {
  std::string counter;
  uint64_t keys = 0;
  const std::string &key() const { return counter; }
  uint64_t rank() const { return keys; }
  static constexpr auto counters() { return std::tuple{&DroppedRow::keys}; }
  static constexpr auto peaks() { return std::tuple{}; }
  static constexpr auto histograms() { return std::tuple{}; }
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(DroppedRow, counter, keys)

}  // namespace triage

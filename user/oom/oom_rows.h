// The oom family's rows in the recording (core/delta_table.h), shared by the sampler that writes
// them and the section that reads them back for a slice.
#pragma once

#include <cstdint>
#include <tuple>

#include "core/delta_table.h"

namespace triage::oom {

struct OomCounters : SingleKey {
  uint64_t marks = 0;             // oom_mark_victim calls the program saw
  uint64_t events_received = 0;   // kill records userspace took from the ring buffer
  uint64_t events_lost = 0;       // kill records dropped (ring buffer full)
  uint64_t rank() const { return marks; }
  static constexpr auto counters() {
    return std::tuple{&OomCounters::marks, &OomCounters::events_received, &OomCounters::events_lost};
  }
  static constexpr auto peaks() { return std::tuple{}; }
  static constexpr auto histograms() { return std::tuple{}; }
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(OomCounters, marks, events_received, events_lost)

// Meta key of the family's constants: {method, kmsg}; its presence says the family was recorded.
inline constexpr const char *kOomConfigMeta = "oom.config";

}  // namespace triage::oom

// Adding up the per-CPU copies of a BPF counter struct, field by field.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace triage {

// Adds every 64-bit field of `copy` into `total` (structs of __u64 counters only). Through memcpy,
// not a uint64_t * cast: uint64_t is unsigned long and __u64 unsigned long long, so writes through
// the cast were invisible to reads of the fields under strict aliasing. At -O2 the tcp sampler read
// its freshly summed `transitions` as the 0 it was initialised with, and every rate_series
// interval after the first transition wrapped (18446744073709551605, issue #31).
template <typename Counters>
void add_u64_fields(Counters &total, const Counters &copy) {
  static_assert(sizeof(Counters) % sizeof(uint64_t) == 0, "a struct of 64-bit counters");
  auto *to = reinterpret_cast<unsigned char *>(&total);
  const auto *from = reinterpret_cast<const unsigned char *>(&copy);
  for (size_t at = 0; at < sizeof(Counters); at += sizeof(uint64_t)) {
    uint64_t sum = 0, add = 0;
    std::memcpy(&sum, to + at, sizeof sum);
    std::memcpy(&add, from + at, sizeof add);
    sum += add;
    std::memcpy(to + at, &sum, sizeof sum);
  }
}

}  // namespace triage

// Deltas of counters read twice. A counter that should only grow can still be lower at the next
// read: a network namespace gone and its inode reused by a new one (whose counters start at 0), a
// per-CPU copy missed by a failed read, a cache flushed. An unsigned `now - before` then wraps to
// ~1.8e19 and every chart and sum that meets it is garbage. So the delta is taken signed and
// clamped at 0, and each clamp is counted: the report says how often a counter went backwards
// instead of hiding it.
#pragma once

#include <cstdint>

namespace triage {

class CounterDeltas {
 public:
  // now - before, or 0 (and one more reset) when the counter went down.
  uint64_t operator()(uint64_t before, uint64_t now) {
    if (now >= before) return now - before;
    resets_++;
    return 0;
  }
  uint64_t resets() const { return resets_; }

 private:
  uint64_t resets_ = 0;
};

}  // namespace triage

// The clocks triage uses: CLOCK_MONOTONIC is what bpf_ktime_get_ns() reads, so every BPF
// timestamp is in it; CLOCK_REALTIME is only for labelling the window for humans.
#pragma once

#include <time.h>

#include <cstdint>

namespace triage {

inline uint64_t clock_ns(clockid_t clock) {
  timespec ts{};
  clock_gettime(clock, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000ULL + static_cast<uint64_t>(ts.tv_nsec);
}
inline uint64_t monotonic_ns() { return clock_ns(CLOCK_MONOTONIC); }
inline uint64_t realtime_ns() { return clock_ns(CLOCK_REALTIME); }
// CPU time this process (all threads) / the calling thread has used: triage's own cost.
inline uint64_t process_cpu_ns() { return clock_ns(CLOCK_PROCESS_CPUTIME_ID); }
inline uint64_t thread_cpu_ns() { return clock_ns(CLOCK_THREAD_CPUTIME_ID); }

// Converts CLOCK_MONOTONIC to CLOCK_REALTIME with the offset measured now.
class MonotonicToRealtime {
 public:
  MonotonicToRealtime() : offset_(static_cast<int64_t>(realtime_ns()) - static_cast<int64_t>(monotonic_ns())) {}
  explicit MonotonicToRealtime(int64_t offset) : offset_(offset) {}
  uint64_t operator()(uint64_t mono_ns) const { return static_cast<uint64_t>(static_cast<int64_t>(mono_ns) + offset_); }
  int64_t offset() const { return offset_; }

 private:
  int64_t offset_;
};

}  // namespace triage

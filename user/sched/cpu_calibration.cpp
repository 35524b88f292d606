#include "sched/cpu_calibration.h"

#include <pthread.h>
#include <sched.h>
#include <time.h>

#include <algorithm>
#include <future>
#include <memory>
#include <thread>

#include "core/clock.h"

namespace triage::sched {
namespace {

// ~2 ms on a 2020s core: long enough to be measured well, short enough to run at each edge.
constexpr uint64_t kLoopIterations = 2'000'000;
constexpr uint64_t kChunk = 50'000;  // the clock is read once per chunk

uint64_t thread_cpu_ns() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000 + static_cast<uint64_t>(ts.tv_nsec);
}

// A dependent chain of integer operations the compiler cannot fold or vectorize.
uint64_t spin(uint64_t iterations, uint64_t state) {
  for (uint64_t i = 0; i < iterations; i++) {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
  }
  return state;
}

// What one pinned run measured; shared with a worker that may outlive the wait for it.
struct PinnedRun {
  uint64_t requested_ns = 0;  // when the worker was asked to move to the CPU
  std::promise<CpuCalibration> result;
};

CpuCalibration run_on(int cpu, std::chrono::milliseconds budget) {
  auto run = std::make_shared<PinnedRun>();
  run->requested_ns = monotonic_ns();
  const auto budget_ns = static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(budget).count());
  std::future<CpuCalibration> result = run->result.get_future();
  // Detached: on a CPU that a real-time task holds without limit (sched_rt_runtime_us = -1) the
  // worker may never run, and the recorder must not wait for it.
  std::thread([run, cpu, budget_ns] {
    CpuCalibration out;
    out.cpu = cpu;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    if (pthread_setaffinity_np(pthread_self(), sizeof set, &set) != 0) {
      out.wall_us = -1;  // not run: the caller drops it
      run->result.set_value(out);
      return;
    }
    sched_yield();  // be on the CPU before the clock starts
    // The wait to get onto the CPU is part of its wall time: a request landing there waits as long.
    const uint64_t wait_ns = monotonic_ns() - run->requested_ns;
    // Twice, the faster counts: the first pass may meet a CPU waking from a deep idle state.
    double best_wall = -1, best_cpu = 0;
    bool finished = true;
    volatile uint64_t sink = 0;
    for (int pass = 0; pass < 2 && finished; pass++) {
      const uint64_t wall_start = monotonic_ns(), cpu_start = thread_cpu_ns();
      uint64_t done = 0, state = 88172645463325252ULL + static_cast<uint64_t>(pass);
      while (done < kLoopIterations) {
        state = spin(kChunk, state);
        done += kChunk;
        if (monotonic_ns() - run->requested_ns > budget_ns) break;
      }
      sink = sink + state;
      const double scale = static_cast<double>(kLoopIterations) / static_cast<double>(done);
      const double wall = static_cast<double>(monotonic_ns() - wall_start) / 1e3 * scale;
      const double own = static_cast<double>(thread_cpu_ns() - cpu_start) / 1e3 * scale;
      finished = done >= kLoopIterations;
      if (best_wall < 0 || wall < best_wall || !finished) {
        best_wall = wall;
        best_cpu = own;
      }
    }
    out.wall_us = static_cast<double>(wait_ns) / 1e3 + best_wall;
    out.cpu_us = best_cpu;
    out.finished = finished;
    run->result.set_value(out);
  }).detach();
  // The budget, plus room for a loop that ran to its end just as the budget closed.
  if (result.wait_for(budget * 2) == std::future_status::ready) return result.get();
  CpuCalibration never_ran;
  never_ran.cpu = cpu;
  never_ran.finished = false;
  // At least this slow: it had not even started.
  never_ran.wall_us = static_cast<double>(monotonic_ns() - run->requested_ns) / 1e3;
  return never_ran;
}

}  // namespace

void set_ratios(std::vector<CpuCalibration> &cpus) {
  if (cpus.empty()) return;
  auto lower_median = [&](double CpuCalibration::*measure) {
    std::vector<double> values;
    for (const auto &c : cpus) values.push_back(c.*measure);
    const auto middle = values.begin() + static_cast<long>((values.size() - 1) / 2);
    std::nth_element(values.begin(), middle, values.end());
    return *middle;
  };
  const double wall = lower_median(&CpuCalibration::wall_us), own = lower_median(&CpuCalibration::cpu_us);
  for (auto &c : cpus) {
    c.ratio = wall > 0 ? c.wall_us / wall : 1;
    // A cut-off run that never started measured no CPU time: no claim about the core.
    c.cpu_ratio = own > 0 && c.cpu_us > 0 ? c.cpu_us / own : 1;
  }
}

CalibrationRun calibrate_cpus(std::chrono::milliseconds budget_per_cpu) {
  CalibrationRun run;
  run.t_ns = monotonic_ns();
  cpu_set_t allowed;
  CPU_ZERO(&allowed);
  if (sched_getaffinity(0, sizeof allowed, &allowed) != 0) return run;
  for (int cpu = 0; cpu < CPU_SETSIZE; cpu++) {
    if (!CPU_ISSET(cpu, &allowed)) continue;
    CpuCalibration c = run_on(cpu, budget_per_cpu);
    if (c.wall_us >= 0) run.cpus.push_back(c);
  }
  set_ratios(run.cpus);
  return run;
}

}  // namespace triage::sched

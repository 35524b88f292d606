// A short fixed loop run pinned to each CPU in turn, at the window's start and end: a CPU that
// runs it much slower than its peers is taken by something else (a real-time task, interrupts,
// the hypervisor) or is itself slow (a throttled or faulty core). Wall time says the first, the
// thread's own CPU time the second. A few milliseconds per CPU; a CPU that cannot finish within
// its budget (a SCHED_FIFO spinner leaves others 5 % of it) is cut off and counted as at least
// that slow, so a hogged CPU never holds up the recorder.
#pragma once

#include <chrono>
#include <cstdint>
#include <vector>

#include <nlohmann/json.hpp>

namespace triage::sched {

struct CpuCalibration {
  int cpu = 0;
  double wall_us = 0;  // for the whole loop (extrapolated when cut off)
  double cpu_us = 0;   // the thread's own CPU time, likewise
  bool finished = true;
  // Over the median CPU's (the lower median: with two CPUs, the other one). A high `ratio` with a
  // normal `cpu_ratio`: the loop waited, something else ran there; a high `cpu_ratio`: the CPU
  // itself ran the loop slower (a throttled or failing core).
  double ratio = 1;      // of wall_us
  double cpu_ratio = 1;  // of cpu_us
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(CpuCalibration, cpu, wall_us, cpu_us, finished, ratio, cpu_ratio)

struct CalibrationRun {
  uint64_t t_ns = 0;  // CLOCK_MONOTONIC when it started
  std::vector<CpuCalibration> cpus;  // the CPUs this process may run on
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(CalibrationRun, t_ns, cpus)

// Runs the loop on every CPU of this process's affinity mask, one at a time.
CalibrationRun calibrate_cpus(std::chrono::milliseconds budget_per_cpu = std::chrono::milliseconds(100));

// Sets each CPU's ratios to the median CPU's times (pure: tested on made-up runs).
void set_ratios(std::vector<CpuCalibration> &cpus);

}  // namespace triage::sched

#include <catch2/catch.hpp>

#include "sched/sched_load.h"

using namespace triage::sched;

namespace {
sched_cpu_acc empty_acc() { return sched_cpu_acc{}; }
}  // namespace

namespace {
double machine_area(const LoadIntegrals &at, int kind) {
  double sum = 0;
  for (const auto &cpu : at.area_ns_by_cpu) sum += cpu[kind];
  return sum;
}
}  // namespace

TEST_CASE("load: a closed span counts its length, an open span counts up to the read time") {
  auto cpu0 = empty_acc(), cpu1 = empty_acc();
  cpu0.closed_ns[SCHED_WAIT_RUNQ] = 500;  // one wait of 500 ns, finished
  cpu1.open[SCHED_WAIT_D_IO] = 1;         // one task in D since t=200
  cpu1.open_start_sum[SCHED_WAIT_D_IO] = 200;
  auto at = integrate({cpu0, cpu1}, 1000);
  REQUIRE(at.area_ns_by_cpu.size() == 2);
  CHECK(at.area_ns_by_cpu[0][SCHED_WAIT_RUNQ] == Approx(500));
  CHECK(at.area_ns_by_cpu[1][SCHED_WAIT_D_IO] == Approx(800));
  CHECK(at.area_ns_by_cpu[0][SCHED_WAIT_D_IO] == 0);
}

TEST_CASE("load: a span closed on another CPU stays its owner's through the transfer entry") {
  // A task blocks on CPU 0 at t=100 and is woken from CPU 1 at t=700: the BPF side puts the close
  // into CPU 0's transfer entry, so CPU 0 owns the whole 600 ns and CPU 1 none of it.
  auto cpu0 = empty_acc(), cpu1 = empty_acc();
  cpu0.open[SCHED_WAIT_D_OTHER] = 1;
  cpu0.open_start_sum[SCHED_WAIT_D_OTHER] = 100;
  std::vector<sched_span_transfer> transfers(2);
  transfers[0].open[SCHED_WAIT_D_OTHER] = -1;
  transfers[0].open_start_sum[SCHED_WAIT_D_OTHER] = -100;
  transfers[0].closed_ns[SCHED_WAIT_D_OTHER] = 600;
  std::vector<sched_cpu_acc> per_cpu = {cpu0, cpu1};
  add_span_transfers(per_cpu, transfers);
  auto at = integrate(per_cpu, 5000);
  CHECK(at.area_ns_by_cpu[0][SCHED_WAIT_D_OTHER] == Approx(600));
  CHECK(at.area_ns_by_cpu[1][SCHED_WAIT_D_OTHER] == 0);
  // Without the transfer entry the open span would run on forever: a phantom task in D.
  auto leaked = integrate({cpu0, cpu1}, 5000);
  CHECK(machine_area(leaked, SCHED_WAIT_D_OTHER) == Approx(4900));
}

TEST_CASE("load: interval averages are area differences over the span, machine-wide the sum of the CPUs") {
  LoadIntegrals a, b;
  a.t_ns = 1'000'000'000;
  b.t_ns = 2'000'000'000;
  a.area_ns_by_cpu = {{0.5e9, 0, 0, 0}, {0, 0, 0, 0}};
  // Over the second: 1.5 tasks waited on cpu0's queue and 0.5 on cpu1's; 0.25 in I/O wait went
  // to sleep on cpu0, 0.25 in a memory stall on cpu1.
  b.area_ns_by_cpu = {{2.0e9, 0.25e9, 0, 0}, {0.5e9, 0, 0.25e9, 0}};
  std::vector<CpuTimes> t0 = {{100, 200}, {0, 200}};
  std::vector<CpuTimes> t1 = {{200, 300}, {50, 300}};  // cpu0 100% busy, cpu1 50%
  auto load = load_between(a, b, t0, t1);
  CHECK(load.runnable == Approx(2.0));
  CHECK(load.blocked == Approx(0.5));
  CHECK(load.blocked_io == Approx(0.25));
  CHECK(load.blocked_mem == Approx(0.25));
  CHECK(load.running == Approx(1.5));
  REQUIRE(load.cpus.size() == 2);
  CHECK(load.cpus[0].busy_pct == Approx(100));
  CHECK(load.cpus[1].busy_pct == Approx(50));
  CHECK(load.cpus[0].runnable == Approx(1.5));
  CHECK(load.cpus[1].runnable == Approx(0.5));
  CHECK(load.cpus[0].blocked == Approx(0.25));
  CHECK(load.cpus[1].blocked == Approx(0.25));
}

TEST_CASE("load: a CPU's sliver below zero is clamped, and the machine-wide value is the clamped sum") {
  LoadIntegrals a, b;
  a.t_ns = 0;
  b.t_ns = 1'000'000'000;
  a.area_ns_by_cpu = {{0, 0, 0, 0}, {0, 0, 0, 0}};
  b.area_ns_by_cpu = {{1.0e9, 0, 0, 0}, {-1000, 0, 0, 0}};  // cpu1 read half-way through a transfer
  auto load = load_between(a, b, {}, {});
  CHECK(load.cpus[1].runnable == 0);
  CHECK(load.runnable == Approx(load.cpus[0].runnable + load.cpus[1].runnable));
}

TEST_CASE("load: no time elapsed gives zeros, not a division by zero") {
  LoadIntegrals a;
  a.t_ns = 5;
  auto load = load_between(a, a, {}, {});
  CHECK(load.runnable == 0);
  CHECK(load.cpus.empty());
}

TEST_CASE("load: /proc/stat cpu lines, old kernels with fewer columns included") {
  auto cpus = read_proc_stat_cpus(TRIAGE_FIXTURES_DIR "/proc/modern/stat");
  REQUIRE(cpus.size() == 2);
  CHECK(cpus[0].busy == 1393 + 280 + 283 + 0 + 4 + 0);  // user nice system irq softirq steal
  CHECK(cpus[0].total == cpus[0].busy + 1823 + 14);      // + idle iowait
  auto legacy = read_proc_stat_cpus(TRIAGE_FIXTURES_DIR "/proc/legacy/stat");
  REQUIRE(legacy.size() == 2);
  CHECK(legacy[0].busy == 1132 + 34 + 1441 + 127 + 438);  // no steal column yet
  CHECK(legacy[0].total == legacy[0].busy + 11311718 + 3675);
  CHECK(read_proc_stat_cpus("/nonexistent").empty());
}

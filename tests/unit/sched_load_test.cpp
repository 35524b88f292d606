#include <catch2/catch.hpp>

#include "sched/sched_load.h"

using namespace triage::sched;

namespace {
sched_cpu_acc empty_acc() { return sched_cpu_acc{}; }
}  // namespace

TEST_CASE("load: a closed span counts its length, an open span counts up to the read time") {
  auto cpu0 = empty_acc(), cpu1 = empty_acc();
  cpu0.closed_ns[SCHED_WAIT_RUNQ] = 500;  // one wait of 500 ns, finished
  cpu1.open[SCHED_WAIT_D_IO] = 1;         // one task in D since t=200
  cpu1.open_start_sum[SCHED_WAIT_D_IO] = 200;
  auto at = integrate({cpu0, cpu1}, 1000);
  CHECK(at.area_ns[SCHED_WAIT_RUNQ] == Approx(500));
  CHECK(at.area_ns[SCHED_WAIT_D_IO] == Approx(800));
}

TEST_CASE("load: spans opened on one CPU and closed on another still integrate exactly") {
  // A task blocks on CPU 0 at t=100 and is woken from CPU 1 at t=700: CPU 0 keeps the open,
  // CPU 1 the close, each copy alone is nonsense (-1 open on CPU 1), the sum is right.
  auto cpu0 = empty_acc(), cpu1 = empty_acc();
  cpu0.open[SCHED_WAIT_D_OTHER] = 1;
  cpu0.open_start_sum[SCHED_WAIT_D_OTHER] = 100;
  cpu1.open[SCHED_WAIT_D_OTHER] = -1;
  cpu1.open_start_sum[SCHED_WAIT_D_OTHER] = -100;
  cpu1.closed_ns[SCHED_WAIT_D_OTHER] = 600;
  auto at = integrate({cpu0, cpu1}, 5000);
  CHECK(at.area_ns[SCHED_WAIT_D_OTHER] == Approx(600));
}

TEST_CASE("load: interval averages are area differences over the span") {
  LoadIntegrals a, b;
  a.t_ns = 1'000'000'000;
  b.t_ns = 2'000'000'000;
  a.area_ns[SCHED_WAIT_RUNQ] = 0.5e9;
  b.area_ns[SCHED_WAIT_RUNQ] = 2.5e9;  // two tasks waiting the whole second
  a.area_ns[SCHED_WAIT_D_IO] = 0;
  b.area_ns[SCHED_WAIT_D_IO] = 0.25e9;
  b.area_ns[SCHED_WAIT_D_MEM] = 0.25e9;
  a.runq_wait_here_ns = {0, 0};
  b.runq_wait_here_ns = {1'500'000'000, 500'000'000};
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

// CPU contention: more busy single-threaded processes than CPUs, all pinned to CPU 0. The report
// must show run-queue waits well above 1 ms and, per process, the same total run-queue wait the
// kernel accounted in /proc/<pid>/schedstat (run_delay) over the same span.
#include <catch2/catch.hpp>

#include <chrono>
#include <cmath>
#include <memory>
#include <vector>

#include "live_support.h"

TEST_CASE("sched: CPU contention shows in run-queue latency and matches schedstat") {
  // Both hook sets: tp_btf with task storage, and the raw_tp twin with its pid map that older
  // kernels get.
  std::string method = GENERATE(as<std::string>{}, "tp_btf", "raw_tp");
  INFO("hook set " << method);
  live::TempDir dir;
  live::Recording rec(dir.file("cpu.db"), {"-d", "6", "--probes", "sched", "--force-hook", "sched=" + method});
  REQUIRE(rec.wait_attached());

  constexpr int kSpinners = 3;  // on one CPU: each waits about two thirds of the time
  std::vector<std::unique_ptr<live::Child>> spinners;
  for (int i = 0; i < kSpinners; i++)
    spinners.push_back(std::make_unique<live::Child>("triage-spin", [] { live::spin_forever(); }, 0));
  live::sleep_s(3);
  // Spawned after the probes attached, so their whole life is inside the window: run_delay since
  // birth is exactly what the recording must have seen.
  std::vector<live::SchedStat> kernel;
  for (auto &s : spinners) kernel.push_back(live::read_schedstat(s->pid()));
  std::vector<pid_t> pids;
  for (auto &s : spinners) {
    pids.push_back(s->pid());
    s->kill_and_reap();
  }
  REQUIRE(rec.wait() == 0);

  auto report = live::report_json(dir.file("cpu.db"));
  const auto &sched = report["sched"];
  REQUIRE(sched.is_object());
  CHECK(sched["method"] == method);
  INFO("run-queue latency: " << sched["runq_latency"].dump());
  CHECK(sched["runq_latency"]["p90"].get<double>() > 1000.0);  // us
  CHECK(report["lost_events"]["by_family"]["sched"] == 0);

  for (size_t i = 0; i < pids.size(); i++) {
    const nlohmann::json *row = nullptr;
    for (const auto &p : sched["top_runq"])
      if (p["pid"] == pids[i]) row = &p;
    INFO("pid " << pids[i] << " schedstat run_delay " << kernel[i].run_delay_ns << " ns");
    REQUIRE(row != nullptr);
    double recorded = (*row)["total_ns"].get<double>();
    double expected = static_cast<double>(kernel[i].run_delay_ns);
    INFO("recorded " << recorded << " ns");
    REQUIRE(expected > 1e9);  // the contention was real
    CHECK(std::abs(recorded - expected) <= 0.05 * expected);
    CHECK((*row)["comm"] == "triage-spin");
  }

  // Three runnable tasks on one CPU: two wait at any moment while they run.
  double runnable_peak = 0;
  for (const auto &row : sched["load"]) runnable_peak = std::max(runnable_peak, row["runnable"].get<double>());
  CHECK(runnable_peak > 1.5);
  // All of it pinned to CPU 0 while CPU 1 idles: the diagnosis is imbalance (the machine as a
  // whole had a free CPU), found in the intervals of the burst, not diluted by the window.
  bool imbalance = false;
  for (const auto &f : report["findings"]) imbalance |= f["id"] == "cpu-imbalance";
  INFO("findings: " << report["findings"].dump());
  CHECK(imbalance);

  // The tracer's own cost, from bpf_stats: sampled one second in ten from the window's start
  // (so about 1 s of this 6 s window), or the whole window when the sysctl was already on.
  const auto &overhead = report["overhead"];
  INFO("overhead: " << overhead.dump());
  CHECK(overhead["measured"] == true);
  if (overhead["method"] == "bpf_stats_sampled") {
    CHECK(overhead["sampled_s"].get<double>() > 0.9);
    CHECK(overhead["sampled_s"].get<double>() < 1.5);
  } else {
    CHECK(overhead["method"] == "bpf_stats");
  }
  // Three tasks switching on one CPU for seconds: the switch program ran, and cost something.
  CHECK(overhead["bpf_run_cnt"].get<uint64_t>() > 1000);
  CHECK(overhead["cpu_pct"].get<double>() > 0.0);
  CHECK(overhead["cpu_pct"].get<double>() < 5.0);
}

TEST_CASE("sched: waits that begin at wakeups and cross CPUs match schedstat") {
  // Unpinned tasks that sleep a little between bursts, more of them than CPUs: most waits start
  // at a wakeup rather than a preemption, and the load balancer moves queued tasks between CPUs.
  // The tp_btf set reads those waits from the kernel's sched_info at switch-in, the raw_tp set
  // stamps the wakeups itself; both must agree with run_delay.
  std::string method = GENERATE(as<std::string>{}, "tp_btf", "raw_tp");
  INFO("hook set " << method);
  live::TempDir dir;
  live::Recording rec(dir.file("wake.db"), {"-d", "5", "--probes", "sched", "--force-hook", "sched=" + method});
  REQUIRE(rec.wait_attached());

  constexpr int kWorkers = 6;  // on 2 CPUs: each waits on a run queue after most wakeups
  std::vector<std::unique_ptr<live::Child>> workers;
  for (int i = 0; i < kWorkers; i++)
    workers.push_back(std::make_unique<live::Child>("triage-burst", [] {
      for (;;) {
        auto burst_end = std::chrono::steady_clock::now() + std::chrono::milliseconds(3);
        while (std::chrono::steady_clock::now() < burst_end) {
        }
        live::sleep_s(0.001);
      }
    }));
  live::sleep_s(2.5);
  std::vector<live::SchedStat> kernel;
  for (auto &w : workers) kernel.push_back(live::read_schedstat(w->pid()));
  std::vector<pid_t> pids;
  for (auto &w : workers) {
    pids.push_back(w->pid());
    w->kill_and_reap();
  }
  REQUIRE(rec.wait() == 0);

  auto report = live::report_json(dir.file("wake.db"));
  const auto &sched = report["sched"];
  REQUIRE(sched.is_object());
  CHECK(sched["method"] == method);
  CHECK(report["lost_events"]["by_family"]["sched"] == 0);
  for (size_t i = 0; i < pids.size(); i++) {
    const nlohmann::json *row = nullptr;
    for (const auto &p : sched["top_runq"])
      if (p["pid"] == pids[i]) row = &p;
    INFO("pid " << pids[i] << " schedstat run_delay " << kernel[i].run_delay_ns << " ns, "
                << kernel[i].slices << " slices");
    REQUIRE(row != nullptr);
    double recorded = (*row)["total_ns"].get<double>();
    double expected = static_cast<double>(kernel[i].run_delay_ns);
    INFO("recorded " << recorded << " ns over " << (*row)["count"] << " waits");
    REQUIRE(expected > 1e8);  // the contention was real
    CHECK(std::abs(recorded - expected) <= 0.05 * expected);
  }
}

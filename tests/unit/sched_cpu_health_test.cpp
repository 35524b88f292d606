// The CPU-health readers and findings on made-up input: PSI and cpu.stat text, cgroup trees with
// quotas, the calibration's ratios, and cpu-steal, cpu-anomaly and cpu-throttled just below and
// above their thresholds, judged per interval and per slice from a recording.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>

#include "core/pressure.h"
#include "recording_fixture.h"
#include "report/report.h"
#include "sched/cgroup_quota.h"
#include "sched/cpu_calibration.h"
#include "sched/sched_rows.h"
#include "sched_rows_util.h"
#include "snapshot/snapshot.h"
#include "scratch_dir.h"

using namespace triage;

namespace {

constexpr uint64_t kStart = 1'000'000'000;
constexpr uint64_t kSecond = 1'000'000'000;

void write(const std::string &path, const std::string &text) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  std::ofstream(path) << text;
}

const json *finding(const json &report, const std::string &id) {
  for (const auto &f : report["findings"])
    if (f["id"] == id) return &f;
  return nullptr;
}

// A 4-second window on 2 CPUs; `per_cpu(interval, cpu)` gives each CPU's steal and IRQ share.
template <typename PerCpu>
json cpus_report(PerCpu &&per_cpu, const std::function<void(RecordingWriter &)> &more = {}, double runnable = 0.2) {
  test::RecordingFixture fx(kStart);
  auto &w = fx.writer();
  fx.set_window_meta(kStart + 4 * kSecond);
  sched_test::write_config(w);
  for (int i = 1; i <= 4; i++) {
    std::vector<sched::CpuInterval> cpus;
    for (int c = 0; c < 2; c++) {
      sched::CpuInterval cpu{c, 50, 0.1, 0};
      std::tie(cpu.steal_pct, cpu.irq_pct) = per_cpu(i, c);
      cpus.push_back(cpu);
    }
    w.add_series(kStart + i * kSecond, "sched", "load",
                 sched::LoadRow{1.0, 1.0, runnable, 0, 0, 0, 0});
    w.add_series(kStart + i * kSecond, "sched", "cpus", sched::CpusRow::of(1.0, cpus));
  }
  if (more) more(w);
  return fx.report();
}

}  // namespace

TEST_CASE("pressure: the kernel's lines parse, a missing or bad line does not") {
  auto p = parse_pressure("some avg10=1.06 avg60=2.97 avg300=5.93 total=4359527864\n"
                          "full avg10=0.00 avg60=0.50 avg300=0.00 total=12\n");
  REQUIRE(p);
  REQUIRE(p->some);
  CHECK(p->some->avg10 == Approx(1.06));
  CHECK(p->some->total_us == 4359527864ULL);
  REQUIRE(p->full);
  CHECK(p->full->avg60 == Approx(0.5));
  // Before 5.13 the cpu file has no "full" line.
  auto cpu = parse_pressure("some avg10=0.00 avg60=0.00 avg300=0.00 total=7\n");
  REQUIRE(cpu);
  CHECK_FALSE(cpu->full);
  CHECK_FALSE(parse_pressure("some avg10=x avg60=0 avg300=0 total=1\n"));
  CHECK_FALSE(parse_pressure(""));
  // The share of an interval: 250 ms stalled in one second.
  CHECK(stall_pct(PressureLine{0, 0, 0, 1'000'000}, PressureLine{0, 0, 0, 1'250'000}, 1e6).value() == Approx(25));
  CHECK_FALSE(stall_pct(PressureLine{0, 0, 0, 9}, PressureLine{0, 0, 0, 1}, 1e6));  // a counter that went back
  ScratchDir dir;
  write(dir.file("pressure/cpu"), "some avg10=3.00 avg60=2.00 avg300=1.00 total=5\n");
  auto reading = read_pressure(dir.file("pressure"));
  CHECK(reading.cpu);
  CHECK_FALSE(reading.io);
  CHECK(pressure_json(reading)["cpu"]["some"]["avg10"] == 3.0);
  CHECK(pressure_json(reading)["io"].is_null());
}

TEST_CASE("cgroup quotas: hierarchies from mounts, quotas and cpu.stat in v1 and v2") {
  ScratchDir dir;
  write(dir.file("v2/cgroup.controllers"), "cpuset cpu io memory pids\n");
  write(dir.file("v2nocpu/cgroup.controllers"), "memory pids\n");
  const std::string mounts = "cgroup2 " + dir.file("v2") + " cgroup2 rw 0 0\n" + "cgroup2 " + dir.file("v2nocpu") +
                             " cgroup2 rw 0 0\n" + "cgroup " + dir.file("v1cpu") + " cgroup rw,relatime,cpu,cpuacct 0 0\n" +
                             "cgroup /sys/fs/cgroup/cpuset cgroup rw,cpuset 0 0\nproc /proc proc rw 0 0\n";
  auto hierarchies = sched::cpu_hierarchies(mounts);
  REQUIRE(hierarchies.size() == 2);
  CHECK(hierarchies[0].v2);
  CHECK(hierarchies[0].mount == dir.file("v2"));
  CHECK_FALSE(hierarchies[1].v2);
  CHECK(hierarchies[1].cpuacct_mount == dir.file("v1cpu"));  // co-mounted
  // cpuacct mounted apart (a hybrid host's /sys/fs/cgroup/cpu and /sys/fs/cgroup/cpuacct)
  auto apart = sched::cpu_hierarchies("cgroup /c cgroup rw,cpu 0 0\ncgroup /a cgroup rw,cpuacct 0 0\n");
  REQUIRE(apart.size() == 1);
  CHECK(apart[0].cpuacct_mount == "/a");

  write(dir.file("v2/app/cpu.max"), "20000 100000\n");
  write(dir.file("v2/free/cpu.max"), "max 100000\n");
  write(dir.file("v2/app/inner/cpu.max"), "150000 100000\n");
  auto found = sched::find_quota_cgroups(hierarchies[0], 10, 100);
  REQUIRE(found.size() == 2);
  std::sort(found.begin(), found.end(), [](const auto &a, const auto &b) { return a.path < b.path; });
  CHECK(found[0].path == "/app");
  CHECK(found[0].quota_cpus == Approx(0.2));
  CHECK(found[1].path == "/app/inner");
  CHECK(found[1].quota_cpus == Approx(1.5));
  CHECK(sched::find_quota_cgroups(hierarchies[0], 1, 100).size() == 1);  // the limit holds

  write(dir.file("v1cpu/cpu.cfs_quota_us"), "-1\n");
  write(dir.file("v1cpu/cpu.cfs_period_us"), "100000\n");
  write(dir.file("v1cpu/box/cpu.cfs_quota_us"), "50000\n");
  write(dir.file("v1cpu/box/cpu.cfs_period_us"), "100000\n");
  write(dir.file("v1cpu/box/cpu.stat"), "nr_periods 30\nnr_throttled 12\nthrottled_time 987654321\n");
  write(dir.file("v1cpu/box/cpuacct.usage"), "555\n");
  write(dir.file("v1cpu/box/cgroup.procs"), "10\n11\n12\n");
  auto v1 = sched::find_quota_cgroups(hierarchies[1], 10, 100);
  REQUIRE(v1.size() == 1);
  CHECK(v1[0].path == "/box");
  auto stat = sched::read_cpu_stat(v1[0]);
  REQUIRE(stat);
  CHECK(stat->nr_periods == 30);
  CHECK(stat->nr_throttled == 12);
  CHECK(stat->throttled_ns == 987654321);
  CHECK(stat->usage_ns == 555);
  CHECK(sched::cgroup_processes(v1[0], 2) == std::vector<uint32_t>{10, 11});

  auto v2stat = sched::parse_cpu_stat("usage_usec 100\nuser_usec 60\nsystem_usec 40\nnr_periods 5\nnr_throttled 2\n"
                                      "throttled_usec 3000\nnr_bursts 0\nburst_usec 0\n",
                                      true);
  REQUIRE(v2stat);
  CHECK(v2stat->throttled_ns == 3'000'000);
  CHECK(v2stat->usage_ns == 100'000);
  CHECK_FALSE(sched::parse_cpu_stat("usage_usec 100\n", true));  // no quota accounting: not a quota cgroup's
}

TEST_CASE("calibration: each CPU's ratio is to the median CPU's wall time") {
  std::vector<sched::CpuCalibration> cpus = {{0, 2000, 2000}, {1, 2100, 2100}, {2, 40000, 2000, false}};
  sched::set_ratios(cpus);
  CHECK(cpus[0].ratio == Approx(2000.0 / 2100));
  CHECK(cpus[1].ratio == Approx(1));
  CHECK(cpus[2].ratio == Approx(40000.0 / 2100));
  CHECK(cpus[1].cpu_ratio == Approx(2100.0 / 2000));
  CHECK(cpus[2].cpu_ratio == Approx(1));
  // With two CPUs each is compared with the other: the slow one stands out.
  std::vector<sched::CpuCalibration> two = {{0, 2000, 2000}, {1, 9000, 8000}};
  sched::set_ratios(two);
  CHECK(two[1].ratio == Approx(4.5));
  CHECK(two[1].cpu_ratio == Approx(4));
  CHECK(two[0].ratio == Approx(1));
  // The real loop on this machine's CPUs: every CPU of our mask measured, none absurd.
  auto run = sched::calibrate_cpus();
  REQUIRE_FALSE(run.cpus.empty());
  for (const auto &c : run.cpus) {
    CHECK(c.wall_us > 0);
    CHECK(c.cpu_us > 0);
  }
}

TEST_CASE("cpu-steal: a CPU losing a tenth of its time for two intervals, not for one") {
  auto one = cpus_report([](int i, int c) { return std::pair{i == 2 && c == 1 ? 30.0 : 0.0, 0.0}; });
  CHECK(finding(one, "cpu-steal") == nullptr);
  auto two = cpus_report([](int i, int c) { return std::pair{i >= 2 && c == 1 ? 35.0 : 1.0, 0.0}; });
  const json *steal = finding(two, "cpu-steal");
  REQUIRE(steal != nullptr);
  CHECK((*steal)["severity"] == "critical");
  CHECK((*steal)["evidence"]["worst_cpu"] == 1);
  CHECK((*steal)["evidence"]["intervals"] == 3);
  CHECK((*steal)["first_t"] == 2.0);
  CHECK((*steal)["last_t"] == 4.0);
  CHECK(two["sched"]["cpus"][1]["steal_pct"].get<double>() == Approx((1.0 + 35 * 3) / 4));
}

TEST_CASE("cpu-anomaly: interrupts on one CPU, and the calibration loop slow on one CPU") {
  auto irq = cpus_report([](int i, int c) { return std::pair{0.0, c == 0 && i <= 2 ? 45.0 : 2.0}; });
  const json *anomaly = finding(irq, "cpu-anomaly");
  REQUIRE(anomaly != nullptr);
  CHECK((*anomaly)["evidence"]["cpu"] == 0);
  CHECK((*anomaly)["evidence"]["irq_intervals"] == 2);
  CHECK((*anomaly)["last_t"] == 2.0);
  // Both CPUs busy with interrupts alike: no CPU stands out.
  CHECK(finding(cpus_report([](int, int) { return std::pair{0.0, 30.0}; }), "cpu-anomaly") == nullptr);

  auto calibrated = [](double slow_wall_us, double slow_cpu_us) {
    return cpus_report([](int, int) { return std::pair{0.0, 0.0}; }, [&](RecordingWriter &w) {
      sched::CalibrationRun run{kStart, {{0, 2000, 2000}, {1, slow_wall_us, slow_cpu_us}}};
      sched::set_ratios(run.cpus);
      w.set_meta(sched::kCalibrationStartMeta, run);
    });
  };
  CHECK(finding(calibrated(2500, 2500), "cpu-anomaly") == nullptr);
  // Only waited: ordinary tasks queued there slow it as much (cpu-imbalance's case), no cause.
  CHECK(finding(calibrated(30000, 2000), "cpu-anomaly") == nullptr);
  const json slow_report = calibrated(30000, 30000);
  const json *slow = finding(slow_report, "cpu-anomaly");
  REQUIRE(slow != nullptr);
  CHECK((*slow)["evidence"]["cpu"] == 1);
  CHECK((*slow)["evidence"]["calibration_cpu_ratio"] == 15);
  CHECK((*slow)["severity"] == "critical");
  CHECK((*slow)["first_t"] == 0.0);
}

namespace {

// A cgroup throttled in intervals 3 and 4, its process "worker" (42) holding the run-queue wait.
void write_throttled_box(RecordingWriter &w) {
  DeltaTable<sched::CgroupQuotaRow> table("sched", sched::kCgroupQuotaTable);
  sched::CgroupQuotaRow heavy{"/box", "v1", 200, "42", 0, 0, 0, 0};
  sched::CgroupQuotaRow light{"/light", "v2", 1000, "", 0, 0, 0, 0};
  table.write(kStart, {heavy, light}, w);
  for (int i = 1; i <= 4; i++) {
    heavy.periods += 10;
    heavy.throttled_periods += i >= 3 ? 9 : 0;
    heavy.throttled_ns += i >= 3 ? 700'000'000 : 0;
    heavy.usage_ns += 200'000'000;
    light.periods += 10;
    light.throttled_periods += i == 4 ? 1 : 0;
    light.throttled_ns += i == 4 ? 5'000'000 : 0;
    table.write(kStart + i * kSecond, {heavy, light}, w);
  }
  sched_test::write_processes(w, kStart + 4 * kSecond, {sched_test::runq_row(42, "worker", "/elsewhere", 3'000'000, 4, 2'900'000)});
}

}  // namespace

TEST_CASE("cpu-throttled: a cgroup throttled in most periods, tied to its processes; a light one not") {
  auto report = cpus_report([](int, int) { return std::pair{0.0, 0.0}; }, write_throttled_box);
  INFO(report["findings"].dump());
  const json *throttled = finding(report, "cpu-throttled");
  REQUIRE(throttled != nullptr);
  const auto &e = (*throttled)["evidence"];
  CHECK(e["cgroup"] == "/box");
  CHECK(e["throttled_ns"] == 1'400'000'000);
  CHECK(e["quota_cpus"] == Approx(0.2));
  CHECK(e["throttled_pct"].get<double>() == Approx(45));
  CHECK(e["processes"][0]["comm"] == "worker");
  CHECK((*throttled)["first_t"] == 3.0);
  CHECK((*throttled)["last_t"] == 4.0);
  CHECK((*throttled)["severity"] == "warning");
  size_t count = 0;
  for (const auto &f : report["findings"]) count += f["id"] == "cpu-throttled";
  CHECK(count == 1);  // /light: 1 of 40 periods
  // Its one process holds the slice's run-queue wait, but the slice has no cpu-saturation to explain.
  CHECK_FALSE(throttled->contains("explains"));
  REQUIRE(report["sched"]["cgroup_quota"].size() == 2);
  CHECK(report["sched"]["cgroup_quota"][0]["cgroup"] == "/box");
}

TEST_CASE("cpu-throttled explains cpu-saturation when its tasks hold the run-queue wait") {
  auto report = cpus_report([](int, int) { return std::pair{0.0, 0.0}; }, write_throttled_box, 2.5);
  INFO(report["findings"].dump());
  const json *throttled = finding(report, "cpu-throttled");
  REQUIRE(throttled != nullptr);
  REQUIRE(finding(report, "cpu-saturation") != nullptr);
  CHECK((*throttled)["explains"] == json::array({"cpu-saturation"}));
  CHECK((*throttled)["evidence"]["runq_wait_share_pct"] == 100);
  // The verdict's order: the cause, then its symptom right under it.
  const json &findings = report["findings"];
  size_t cause_at = findings.size(), symptom_at = findings.size();
  for (size_t i = 0; i < findings.size(); i++) {
    if (findings[i]["id"] == "cpu-throttled") cause_at = i;
    if (findings[i]["id"] == "cpu-saturation") symptom_at = i;
  }
  REQUIRE(symptom_at < findings.size());
  CHECK(findings[symptom_at]["explained_by"] == "cpu-throttled");
  CHECK(symptom_at == cause_at + 1);
  CHECK(render_text(report).find("which explains: CPU-") != std::string::npos);
}

TEST_CASE("hardware errors in the kernel log: the reports count, the drivers' banners do not") {
  CHECK(is_hardware_error_message("mce: [Hardware Error]: Machine check events logged"));
  CHECK(is_hardware_error_message("EDAC MC0: 1 CE memory read error on CPU_SrcID#0_Ha#0_Chan#1_DIMM#0"));
  CHECK(is_hardware_error_message("CPU3: Core temperature above threshold, cpu clock throttled"));
  CHECK_FALSE(is_hardware_error_message("EDAC MC: Ver: 3.0.0"));
  CHECK_FALSE(is_hardware_error_message("mce: CPU0: Thermal monitoring enabled (TM1)"));
  CHECK_FALSE(is_hardware_error_message("MCE: In-kernel MCE decoding enabled."));

  auto with_kmsg = [](const std::string &line) {
    return cpus_report([](int, int) { return std::pair{0.0, 0.0}; }, [&](RecordingWriter &w) {
      json end = {{"kmsg", {{{"time", 5.0}, {"level", 3}, {"text", line}}}}};
      w.put_snapshot("end", end);
    });
  };
  const json banner = with_kmsg("EDAC MC: Ver: 3.0.0");
  CHECK(finding(banner, "cpu-anomaly") == nullptr);
  const json error = with_kmsg("mce: [Hardware Error]: CPU 1: Machine Check: 0 Bank 5: be00000000800400");
  const json *anomaly = finding(error, "cpu-anomaly");
  REQUIRE(anomaly != nullptr);
  CHECK((*anomaly)["evidence"]["hardware_errors"].size() == 1);
}

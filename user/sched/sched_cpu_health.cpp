// The CPUs as the kernel's own counters see them, beside what the tracepoints saw: stolen and
// interrupt time per CPU, pressure stall information, cgroup CPU quotas and the calibration loop
// (sched/cpu_health.h records them). Their findings: cpu-steal, cpu-anomaly, cpu-throttled.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <sstream>

#include "report/finding_span.h"
#include "report/text_util.h"
#include "snapshot/snapshot.h"
#include "sched/cpu_calibration.h"
#include "sched/sched_report.h"
#include "sched/sched_rows.h"

namespace triage::sched {
namespace {

// Steal: a CPU that lost a tenth of its time to the hypervisor in an interval, for two intervals
// (or a twentieth of the machine's time over the slice) is a VM on a busy host.
constexpr double kStealCpuPct = 10.0;
constexpr double kStealMachinePct = 5.0;
constexpr double kStealCriticalPct = 30.0;
constexpr size_t kSustainedIntervals = 2;
// Anomaly: the calibration loop twice as slow as on the median CPU, and at least 1 ms slower (a
// ratio of microseconds is noise); interrupts taking a fifth of a CPU, 15 points above its peers;
// a real-time task holding half a CPU.
constexpr double kCalibrationRatio = 2.0;
constexpr double kCalibrationCriticalRatio = 5.0;
constexpr double kCalibrationMinExtraUs = 1000;
constexpr double kIrqPct = 20.0, kIrqAbovePeersPct = 15.0;
constexpr double kRealtimeCpuPct = 50.0, kRealtimeCriticalPct = 90.0;
// Throttling: a tenth of the quota's periods throttled and 100 ms lost in the slice.
constexpr double kThrottledPeriodsPct = 10.0;
constexpr uint64_t kThrottledMinNs = 100'000'000;
constexpr double kThrottledCriticalPct = 50.0;
constexpr size_t kQuotaSeriesKept = 2000;

// The lower median: with two CPUs, the other CPU's value, so that one of two can stand out.
double median_of(std::vector<double> values) {
  if (values.empty()) return 0;
  const auto middle = values.begin() + static_cast<long>((values.size() - 1) / 2);
  std::nth_element(values.begin(), middle, values.end());
  return *middle;
}

json calibration_json(const CalibrationRun &run, double t_s) {
  json cpus = json::array();
  for (const auto &c : run.cpus) cpus.push_back(c);
  return {{"t", round_hundredth(t_s)}, {"cpus", std::move(cpus)}};
}

std::vector<uint32_t> pids_of(const std::string &text) {
  std::vector<uint32_t> pids;
  std::istringstream in(text);
  uint32_t pid = 0;
  while (in >> pid) pids.push_back(pid);
  return pids;
}

}  // namespace

void add_cpu_health(const RecordingReader &r, uint64_t start_mono, json &s) {
  auto seconds_since_start = [&](uint64_t t_ns) {
    return t_ns > start_mono ? static_cast<double>(t_ns - start_mono) / 1e9 : 0.0;
  };

  // Pressure stall information, interval by interval and averaged over the slice.
  json series = json::array();
  PressureRow sum;
  r.for_each_series("sched", "pressure", [&](uint64_t t, const json &d) {
    const auto row = d.get<PressureRow>();
    sum.dt_s += row.dt_s;
    sum.cpu_some += row.cpu_some * row.dt_s;
    sum.io_some += row.io_some * row.dt_s;
    sum.io_full += row.io_full * row.dt_s;
    sum.memory_some += row.memory_some * row.dt_s;
    sum.memory_full += row.memory_full * row.dt_s;
    json out = row;
    out.erase("dt_s");
    out["t"] = seconds_since_start(t);
    series.push_back(std::move(out));
  });
  if (series.empty()) {
    s["pressure"] = nullptr;
  } else {
    auto avg = [&](double weighted) { return sum.dt_s > 0 ? weighted / sum.dt_s : 0.0; };
    s["pressure"] = {{"avg",
                      {{"cpu_some", avg(sum.cpu_some)},
                       {"io_some", avg(sum.io_some)},
                       {"io_full", avg(sum.io_full)},
                       {"memory_some", avg(sum.memory_some)},
                       {"memory_full", avg(sum.memory_full)}}},
                     {"series", std::move(series)}};
  }

  // Cgroups with a CPU quota: the slice's sums, largest throttled time first, and the intervals
  // in which each was throttled (for the finding's span).
  json quota_series = json::array();
  const auto quotas = read_table<CgroupQuotaRow>(r, "sched", kCgroupQuotaTable,
                                                 [&](uint64_t t, const IntervalRows<CgroupQuotaRow> &interval) {
                                                   for (const auto &row : interval.rows) {
                                                     if (!row.throttled_periods || quota_series.size() >= kQuotaSeriesKept)
                                                       continue;
                                                     quota_series.push_back({{"t", seconds_since_start(t)},
                                                                             {"cgroup", row.cgroup},
                                                                             {"periods", row.periods},
                                                                             {"throttled_periods", row.throttled_periods},
                                                                             {"throttled_ns", row.throttled_ns}});
                                                   }
                                                 });
  std::vector<const CgroupQuotaRow *> ranked;
  for (const auto &row : quotas.rows) ranked.push_back(&row);
  std::stable_sort(ranked.begin(), ranked.end(), [](const CgroupQuotaRow *a, const CgroupQuotaRow *b) {
    return a->throttled_ns > b->throttled_ns;
  });
  json quota_rows = json::array();
  for (const CgroupQuotaRow *row : ranked) {
    quota_rows.push_back(
        {{"cgroup", row->cgroup},
         {"hierarchy", row->hierarchy},
         {"quota_cpus", static_cast<double>(row->quota_millicpus) / 1000},
         {"periods", row->periods},
         {"throttled_periods", row->throttled_periods},
         {"throttled_pct", row->periods ? 100.0 * static_cast<double>(row->throttled_periods) / static_cast<double>(row->periods) : 0.0},
         {"throttled_ns", row->throttled_ns},
         {"usage_ns", row->usage_ns},
         {"pids", pids_of(row->pids)}});
  }
  s["cgroup_quota_total"] = quotas.key_count();
  s["cgroup_quota"] = std::move(quota_rows);
  s["cgroup_quota_series"] = std::move(quota_series);

  // The calibration at each edge the slice holds (half a second of slack: the loop runs at attach
  // and before the last sample, not at the window's exact bounds).
  const Slice &slice = r.slice();
  const uint64_t end_mono = r.meta("end_ns").value_or(json(r.meta("last_flush_ns").value_or(json(start_mono)))).get<uint64_t>();
  constexpr uint64_t kEdgeSlackNs = 500'000'000;
  json calibration = {{"start", nullptr}, {"end", nullptr}};
  if (auto run = r.meta(kCalibrationStartMeta); run && run->is_object() && slice.from_ns <= start_mono + kEdgeSlackNs) {
    const auto parsed = run->get<CalibrationRun>();
    calibration["start"] = calibration_json(parsed, seconds_since_start(parsed.t_ns));
  }
  if (auto run = r.meta(kCalibrationEndMeta);
      run && run->is_object() && (slice.to_ns >= end_mono || end_mono - slice.to_ns <= kEdgeSlackNs)) {
    const auto parsed = run->get<CalibrationRun>();
    calibration["end"] = calibration_json(parsed, seconds_since_start(parsed.t_ns));
  }
  // Null when no edge's run is in the slice (or the recording predates the loop).
  s["calibration"] = calibration["start"].is_null() && calibration["end"].is_null() ? json() : std::move(calibration);
}

void render_cpu_health_text(const json &s, std::string &out) {
  const json pressure = s.value("pressure", json());
  if (pressure.is_object()) {
    const json &avg = pressure["avg"];
    out += fmt::format(
        "  pressure (PSI, share of the time tasks stalled): cpu some {:.1f}%, io some {:.1f}% full {:.1f}%, "
        "memory some {:.1f}% full {:.1f}%\n",
        avg.value("cpu_some", 0.0), avg.value("io_some", 0.0), avg.value("io_full", 0.0), avg.value("memory_some", 0.0),
        avg.value("memory_full", 0.0));
  }
  const json calibration = s.value("calibration", json());
  for (const char *edge : {"start", "end"}) {
    const json run = calibration.is_object() ? calibration.value(edge, json()) : json();
    if (!run.is_object()) continue;
    std::string cpus;
    for (const auto &c : run.value("cpus", json::array()))
      cpus += fmt::format("{}cpu{} {}{:.1f} ms{}", cpus.empty() ? "" : ", ", c.value("cpu", 0),
                          c.value("finished", true) ? "" : "≥", c.value("wall_us", 0.0) / 1000,
                          c.value("ratio", 1.0) >= kCalibrationRatio ? fmt::format(" ({:.1f}x)", c.value("ratio", 1.0)) : "");
    out += fmt::format("  calibration loop at the window's {} (pinned to each CPU in turn): {}\n", edge, cpus);
  }
  const json quotas = s.value("cgroup_quota", json::array());
  if (!quotas.empty()) {
    out += "\n  cgroups with a CPU quota (a throttled task waits runnable with the CPUs idle: run-queue wait, not busy "
           "CPUs):\n";
    out += fmt::format("  {:<40} {:>6} {:>8} {:>9} {:>11} {:>9}\n", "cgroup", "quota", "periods", "throttled",
                       "throttled s", "used CPU s");
    size_t shown = 0;
    for (const auto &q : quotas) {
      if (shown++ == 10) break;
      const uint64_t usage_ns = q.value("usage_ns", 0ULL);
      out += fmt::format("  {:<40} {:>6.2f} {:>8} {:>8.0f}% {:>11.2f} {:>9}\n", printable(q.value("cgroup", "")),
                         q.value("quota_cpus", 0.0), q.value("periods", 0ULL), q.value("throttled_pct", 0.0),
                         static_cast<double>(q.value("throttled_ns", 0ULL)) / 1e9,
                         usage_ns ? fmt::format("{:.2f}", static_cast<double>(usage_ns) / 1e9) : "-");
    }
    if (quotas.size() > shown) out += fmt::format("  ({} of {} shown)\n", shown, quotas.size());
  }
}

namespace {

// What the sched lists say of each process: its name, CPU time and longest run-queue wait.
std::map<uint32_t, json> processes_by_pid(const json &s) {
  std::map<uint32_t, json> by_pid;
  auto row_of = [&](const json &p) -> json & {
    json &row = by_pid[p.value("pid", 0u)];
    if (row.is_null()) row = {{"comm", p.value("comm", "")}, {"cpu_ns", 0}, {"runq_max_ns", 0}};
    return row;
  };
  for (const auto &p : s.value("top_runq", json::array())) row_of(p)["runq_max_ns"] = p.value("max_ns", 0ULL);
  for (const auto &p : s.value("top_cpu", json::array())) row_of(p)["cpu_ns"] = p.value("cpu_ns", 0ULL);
  for (const auto &p : s.value("top_dstate", json::array())) row_of(p);
  return by_pid;
}

void add_steal(const json &s, json &findings) {
  ConditionSpan span;
  size_t intervals = 0, critical_intervals = 0;
  double worst = 0;
  int worst_cpu = 0;
  for (const auto &row : s.value("cpu_busy_series", json::array())) {
    const auto steal = row.value("steal_pct", json::array());
    if (steal.empty()) continue;
    double t = row.value("t", 0.0), highest = 0;
    int highest_cpu = 0;
    for (size_t c = 0; c < steal.size(); c++) {
      double v = steal[c].is_number() ? steal[c].get<double>() : 0;
      if (v > highest) highest = v, highest_cpu = static_cast<int>(c);
    }
    if (highest > worst) worst = highest, worst_cpu = highest_cpu;
    bool holds = highest >= kStealCpuPct;
    intervals += holds;
    critical_intervals += highest >= kStealCriticalPct;
    span.observe(t, highest, holds);
  }
  // The machine's share over the slice: the mean of the CPUs' averages the section shows.
  double machine_avg = 0;
  const auto cpus = s.value("cpus", json::array());
  for (const auto &c : cpus) machine_avg += c.value("steal_pct", 0.0);
  if (!cpus.empty()) machine_avg /= static_cast<double>(cpus.size());
  if (intervals < kSustainedIntervals && machine_avg < kStealMachinePct) return;
  json finding = {
      {"id", "cpu-steal"},
      {"severity", critical_intervals >= kSustainedIntervals ? "critical" : "warning"},
      {"title", fmt::format("The hypervisor took CPU time: up to {:.0f}% of cpu{} stolen ({} intervals at {:.0f}% or "
                            "more), {:.1f}% of all CPU time over the slice",
                            worst, worst_cpu, intervals, kStealCpuPct, machine_avg)},
      {"evidence",
       {{"steal_avg_pct", machine_avg}, {"worst_cpu", worst_cpu}, {"worst_steal_pct", worst}, {"intervals", intervals}}},
      {"advice",
       "Steal is time this VM's CPUs were ready to run but the host ran something else: a noisy neighbour, an "
       "oversubscribed host or exhausted CPU credits (burstable instances). Tuning inside the guest will not help: "
       "compare with the provider's host metrics, resize or move the VM."}};
  span.stamp(finding);
  findings.push_back(std::move(finding));
}

// One CPU much worse than its peers: each reason it was, per CPU. A calibration loop that only
// waited long is evidence, not a cause: ordinary tasks queued there (work pinned to one CPU, which
// cpu-imbalance reports) slow it as much. A cause is a real-time task, interrupts, or the loop
// itself needing more CPU time there than on its peers (a slow core).
struct CpuTrouble {
  double calibration_ratio = 0;  // wall time, the worst edge's
  double core_ratio = 0;         // the loop's own CPU time, likewise
  bool calibration_cut_off = false;
  size_t irq_intervals = 0;
  double irq_worst_pct = 0;
  json realtime;  // the real-time task that held it
  ConditionSpan span;
  bool slow_core() const { return core_ratio >= kCalibrationRatio; }
  bool any() const { return slow_core() || irq_intervals >= kSustainedIntervals || !realtime.is_null(); }
};

void add_anomaly(const json &report, const json &s, json &findings) {
  std::map<int, CpuTrouble> trouble;
  const double length = report["window"].value("recording_duration_s", 0.0);
  const json slice = report["window"].value("slice", json());
  const double from_s = slice.is_object() ? slice.value("from_s", 0.0) : 0.0;
  const double to_s = slice.is_object() ? slice.value("to_s", length) : length;

  // The calibration loop at each edge the slice holds; each CPU's worst ratio is evidence for
  // whatever else makes it stand out (a real-time task's CPU may still run a short loop at once:
  // the kernel keeps a share of every CPU for ordinary tasks).
  std::map<int, double> calibration_by_cpu;
  const json calibration = s.value("calibration", json());
  for (const char *edge : {"start", "end"}) {
    const json run = calibration.is_object() ? calibration.value(edge, json()) : json();
    if (!run.is_object()) continue;
    const auto cpus = run.value("cpus", json::array());
    if (cpus.size() < 2) continue;
    std::vector<double> walls;
    for (const auto &c : cpus) walls.push_back(c.value("wall_us", 0.0));
    const double median = median_of(walls);
    for (const auto &c : cpus) {
      double ratio = c.value("ratio", 1.0), wall = c.value("wall_us", 0.0), core = c.value("cpu_ratio", 1.0);
      double &seen = calibration_by_cpu[c.value("cpu", 0)];
      seen = std::max(seen, ratio);
      if (ratio < kCalibrationRatio || wall - median < kCalibrationMinExtraUs) continue;
      CpuTrouble &t = trouble[c.value("cpu", 0)];
      t.calibration_ratio = std::max(t.calibration_ratio, ratio);
      t.core_ratio = std::max(t.core_ratio, core);
      t.calibration_cut_off = t.calibration_cut_off || !c.value("finished", true);
      t.span.observe(std::string_view(edge) == "start" ? from_s : to_s, ratio, true);
    }
  }

  // Interrupts: per interval, a CPU whose hard and soft IRQ share stands out from its peers'.
  for (const auto &row : s.value("cpu_busy_series", json::array())) {
    const auto irq = row.value("irq_pct", json::array());
    if (irq.size() < 2) continue;
    std::vector<double> values;
    for (const auto &v : irq) values.push_back(v.is_number() ? v.get<double>() : 0);
    const double median = median_of(values);
    for (size_t c = 0; c < values.size(); c++) {
      if (values[c] < kIrqPct || values[c] < median + kIrqAbovePeersPct) continue;
      CpuTrouble &t = trouble[static_cast<int>(c)];
      t.irq_intervals++;
      t.irq_worst_pct = std::max(t.irq_worst_pct, values[c]);
      t.span.observe(row.value("t", 0.0), values[c], true);
    }
  }

  // A real-time task that held a CPU: pinned to one, that one; else the busiest CPU of the slice.
  const auto cpus = s.value("cpus", json::array());
  if (cpus.size() >= 2) {
    int busiest = 0;
    double busiest_pct = -1;
    for (const auto &c : cpus)
      if (c.value("busy_pct", 0.0) > busiest_pct) busiest_pct = c.value("busy_pct", 0.0), busiest = c.value("cpu", 0);
    for (const auto &p : s.value("top_cpu", json::array())) {
      const std::string policy = p.value("policy", "");
      if (policy != "SCHED_FIFO" && policy != "SCHED_RR" && policy != "SCHED_DEADLINE") continue;
      if (p.value("cpu_pct", 0.0) < kRealtimeCpuPct) continue;
      const std::string allowed = p.value("cpus_allowed", "");
      int cpu = busiest;
      if (!allowed.empty() && allowed.find_first_not_of("0123456789") == std::string::npos) cpu = std::stoi(allowed);
      CpuTrouble &t = trouble[cpu];
      if (!t.realtime.is_null()) continue;
      t.realtime = {{"pid", p.value("pid", 0)},
                    {"comm", p.value("comm", "")},
                    {"policy", policy},
                    {"cpu_pct", p.value("cpu_pct", 0.0)},
                    {"cpus_allowed", allowed}};
      // When: the intervals in which it was the top CPU user with most of a CPU.
      for (const auto &interval : s.value("top_cpu_series", json::array()))
        for (const auto &row : interval.value("rows", json::array()))
          if (row.value("pid", 0) == p.value("pid", 0)) t.span.observe(interval.value("t", 0.0), 0, true);
    }
  }

  // Hardware errors the kernel logged (the checklist's kmsg, read at the window's end): a failing
  // CPU, cache or memory controller. Evidence for a CPU that misbehaves, a finding of their own
  // when no CPU stood out.
  json hardware_errors = json::array();
  if (to_s >= length - 0.005) {
    const json &end = report["snapshot"].value("end", json());
    if (end.is_object())
      for (const auto &line : end.value("kmsg", json::array())) {
        const std::string text = line.value("text", "");
        if (is_hardware_error_message(text) && hardware_errors.size() < 5) hardware_errors.push_back(text);
      }
  }
  bool any_cpu = false;
  for (const auto &[cpu, t] : trouble) any_cpu = any_cpu || t.any();
  if (!any_cpu && !hardware_errors.empty()) {
    json finding = {{"id", "cpu-anomaly"},
                    {"severity", "warning"},
                    {"title", fmt::format("The kernel logged hardware errors (machine check, EDAC): \"{}\"",
                                          hardware_errors[0].get<std::string>())},
                    {"evidence", {{"cpu", nullptr}, {"hardware_errors", hardware_errors}}},
                    {"advice",
                     "A CPU, its caches or the memory controller reported errors: check rasdaemon/mcelog and the "
                     "full kernel log for the CPU or DIMM named, and have the hardware (or, on a VM, the host) "
                     "replaced; until then expect crashes and slow or wrong results."}};
    finding["first_t"] = round_hundredth(length);
    finding["last_t"] = round_hundredth(length);
    finding["peak_t"] = round_hundredth(length);
    findings.push_back(std::move(finding));
  }

  for (auto &[cpu, t] : trouble) {
    if (!t.any()) continue;
    std::vector<std::string> reasons;
    bool critical = t.slow_core() && t.core_ratio >= kCalibrationCriticalRatio;
    std::string advice;
    if (!t.realtime.is_null()) {
      const double pct = t.realtime.value("cpu_pct", 0.0);
      critical = critical || pct >= kRealtimeCriticalPct;
      reasons.push_back(fmt::format("a {} task ({}, pid {}) held it {:.0f}% of the time", t.realtime.value("policy", ""),
                                    t.realtime.value("comm", ""), t.realtime.value("pid", 0), pct));
      advice += "A real-time task outranks every normal task on its CPU: find why it runs so long (chrt -p PID, its "
                "own logs), give it a CPU of its own (cpusets, isolcpus) or run it as SCHED_OTHER. ";
    }
    if (t.irq_intervals >= kSustainedIntervals) {
      reasons.push_back(fmt::format("interrupts took up to {:.0f}% of it ({} intervals)", t.irq_worst_pct, t.irq_intervals));
      advice += "Interrupts are served on that CPU: spread them (irqbalance, /proc/irq/*/smp_affinity, RSS/RPS for the "
                "NIC's queues). ";
    }
    if (t.slow_core())
      reasons.push_back(fmt::format("the calibration loop needed {:.1f}x the CPU time of its peers there (took {}{:.1f}x "
                                    "as long)",
                                    t.core_ratio, t.calibration_cut_off ? "at least " : "", t.calibration_ratio));
    else if (t.calibration_ratio > 0)
      reasons.push_back(fmt::format("the calibration loop took {}{:.1f}x as long there as on its peers",
                                    t.calibration_cut_off ? "at least " : "", t.calibration_ratio));
    if (!hardware_errors.empty())
      reasons.push_back(fmt::format("the kernel logged hardware errors (\"{}\")", hardware_errors[0].get<std::string>()));
    if (t.slow_core())
      advice += "The CPU itself ran the same loop slower than its peers: a throttled (thermal, power cap) or failing "
                "core, or a hypervisor that runs this vCPU on a slower or shared core. Check the kernel log for machine checks (mce, EDAC), "
                "the CPU's frequency, and on a VM ask the provider to move it. ";
    std::string title = fmt::format("cpu{} is much worse than its peers: ", cpu);
    for (size_t i = 0; i < reasons.size(); i++) title += (i ? "; " : "") + reasons[i];
    json finding = {{"id", "cpu-anomaly"},
                    {"severity", critical ? "critical" : "warning"},
                    {"title", title},
                    {"evidence",
                     {{"cpu", cpu},
                      {"calibration_ratio", calibration_by_cpu.contains(cpu) ? json(calibration_by_cpu[cpu]) : json()},
                      {"calibration_cpu_ratio", t.core_ratio},
                      {"calibration_cut_off", t.calibration_cut_off},
                      {"irq_intervals", t.irq_intervals},
                      {"irq_worst_pct", t.irq_worst_pct},
                      {"realtime_task", t.realtime},
                      {"hardware_errors", hardware_errors}}},
                    {"advice", advice.substr(0, advice.empty() ? 0 : advice.size() - 1)}};
    t.span.stamp(finding);
    findings.push_back(std::move(finding));
  }
}

// Whether a process row belongs to the cgroup: by its path (v2, or v1's cpu path on a hybrid
// host) or by the pids the sampler read from the cgroup.
bool in_cgroup(const json &process, const std::string &cgroup, const json &pids) {
  const std::string path = process.value("cgroup", "");
  if (path == cgroup || (path.starts_with(cgroup) && path.size() > cgroup.size() && path[cgroup.size()] == '/' &&
                         cgroup != "/"))
    return true;
  for (const auto &pid : pids)
    if (pid == process.value("pid", json())) return true;
  return false;
}

// A throttled task waits runnable: when the throttled cgroup's tasks hold most of the slice's
// run-queue wait, the quota is the cause of cpu-saturation's numbers, not busy CPUs. The cause
// then names its symptom (`explains`), and the verdict shows it under it.
void explain_run_queue_waits(const json &s, const std::string &cgroup, const json &pids, json &cause,
                             const json &findings) {
  bool saturation = false;
  for (const auto &f : findings) saturation = saturation || f.value("id", "") == "cpu-saturation";
  if (!saturation) return;
  uint64_t total = 0, inside = 0;
  for (const auto &p : s.value("top_runq", json::array())) {
    const uint64_t waited = p.value("total_ns", 0ULL);
    total += waited;
    if (in_cgroup(p, cgroup, pids)) inside += waited;
  }
  if (total == 0 || inside * 2 < total) return;
  cause["explains"] = json::array({"cpu-saturation"});
  cause["evidence"]["runq_wait_share_pct"] = 100.0 * static_cast<double>(inside) / static_cast<double>(total);
}

void add_throttled(const json &report, const json &s, json &findings) {
  const double duration_s = report["window"].value("duration_s", 0.0);
  const auto names = processes_by_pid(s);
  for (const auto &q : s.value("cgroup_quota", json::array())) {
    const uint64_t throttled_ns = q.value("throttled_ns", 0ULL);
    const double throttled_pct = q.value("throttled_pct", 0.0);
    if (throttled_ns < kThrottledMinNs || throttled_pct < kThrottledPeriodsPct) continue;
    const std::string cgroup = q.value("cgroup", "");
    ConditionSpan span;
    for (const auto &row : s.value("cgroup_quota_series", json::array())) {
      if (row.value("cgroup", "") != cgroup) continue;
      uint64_t periods = row.value("periods", 0ULL), throttled = row.value("throttled_periods", 0ULL);
      double pct = periods ? 100.0 * static_cast<double>(throttled) / static_cast<double>(periods) : 0;
      span.observe(row.value("t", 0.0), static_cast<double>(row.value("throttled_ns", 0ULL)), pct >= kThrottledPeriodsPct);
    }
    // Its processes, with what the window saw of them: CPU used and the longest run-queue wait
    // (a throttled wait is not one: the run-queue latency understates what they suffered).
    json processes = json::array();
    std::string named;
    for (const auto &pid_json : q.value("pids", json::array())) {
      const auto pid = pid_json.get<uint32_t>();
      json row = {{"pid", pid}};
      if (auto it = names.find(pid); it != names.end()) {
        row["comm"] = it->second.value("comm", "");
        row["cpu_ns"] = it->second.value("cpu_ns", 0ULL);
        row["runq_max_ns"] = it->second.value("runq_max_ns", 0ULL);
        named += fmt::format("{}{} ({})", named.empty() ? "" : ", ", it->second.value("comm", ""), pid);
      }
      processes.push_back(std::move(row));
    }
    const double quota = q.value("quota_cpus", 0.0);
    json finding = {
        {"id", "cpu-throttled"},
        {"severity", throttled_pct >= kThrottledCriticalPct ? "critical" : "warning"},
        {"title", fmt::format("cgroup {} was throttled by its CPU quota of {:.2f} CPU: {:.2f} s stopped, in {:.0f}% of "
                              "its periods{}",
                              cgroup, quota, static_cast<double>(throttled_ns) / 1e9, throttled_pct,
                              named.empty() ? "" : fmt::format(" (tasks: {})", named))},
        {"evidence",
         {{"cgroup", cgroup},
          {"hierarchy", q.value("hierarchy", "")},
          {"quota_cpus", quota},
          {"throttled_ns", throttled_ns},
          {"throttled_periods", q.value("throttled_periods", 0ULL)},
          {"periods", q.value("periods", 0ULL)},
          {"throttled_pct", throttled_pct},
          // A throttled cgroup used CPU: 0 means this kernel did not say how much (v1 without cpuacct).
          {"used_cpus", duration_s > 0 && q.value("usage_ns", 0ULL) > 0
                            ? json(static_cast<double>(q.value("usage_ns", 0ULL)) / 1e9 / duration_s)
                            : json()},
          {"processes", processes}}},
        {"advice",
         "The cgroup's CPU limit (cpu.max, cpu.cfs_quota_us: a container's CPU limit) stops its tasks for the rest of "
         "each period once they used it up: they wait runnable while the CPUs sit idle, so their run-queue latency and "
         "the runnable load rise without busy CPUs, and adding CPUs does not help. Raise or remove the limit, or do "
         "less work; a process with many busy threads spends the quota early in each period (fewer threads, or a "
         "longer period)."}};
    span.stamp(finding);
    explain_run_queue_waits(s, cgroup, q.value("pids", json::array()), finding, findings);
    findings.push_back(std::move(finding));
  }
}

}  // namespace

void add_cpu_health_findings(const json &report, json &findings) {
  const json &s = report["sched"];
  if (!s.is_object()) return;
  add_steal(s, findings);
  add_anomaly(report, s, findings);
  add_throttled(report, s, findings);
}

}  // namespace triage::sched

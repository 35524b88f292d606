#include "sched/cpu_health.h"

#include <cmath>
#include <set>

#include "core/family.h"
#include "core/text_fields.h"

namespace triage::sched {
namespace {

// A walk of the cgroup tree costs an open per cgroup: done at start and then every this many
// intervals (a container started mid-window shows within ten seconds).
constexpr size_t kRediscoverEvery = 10;
constexpr size_t kMaxQuotaCgroups = 256;
constexpr size_t kMaxCgroupDirs = 20'000;
constexpr size_t kMembersListed = 8;

std::string read_mounts() { return read_small_file("/proc/self/mounts").value_or(""); }

// Whether a quota at `dir` can throttle the tasks of --cgroup `filter`: on its path or below it.
bool concerns(const std::string &dir, const std::string &filter) {
  if (filter.empty()) return true;
  auto within = [](const std::string &inner, const std::string &outer) {
    return inner.starts_with(outer) && (inner.size() == outer.size() || inner[outer.size()] == '/');
  };
  return within(dir, filter) || within(filter, dir);
}

}  // namespace

void CpuHealthSampler::start(uint64_t now_ns) {
  start_calibration_ = calibrate_cpus();
  last_pressure_ = read_pressure();
  last_pressure_ns_ = now_ns;
  discover_quota_cgroups();
  for (const auto &cgroup : quota_cgroups_)
    if (auto stat = read_cpu_stat(cgroup)) baselines_.try_emplace(cgroup.path, *stat);
}

void CpuHealthSampler::finish() {
  if (!end_calibration_) end_calibration_ = calibrate_cpus();
}

void CpuHealthSampler::discover_quota_cgroups() {
  samples_since_discovery_ = 0;
  std::vector<QuotaCgroup> found;
  for (const auto &hierarchy : cpu_hierarchies(read_mounts()))
    for (auto &cgroup : find_quota_cgroups(hierarchy, kMaxQuotaCgroups, kMaxCgroupDirs))
      if (concerns(cgroup.dir, cgroup_dir_) && found.size() < kMaxQuotaCgroups) found.push_back(std::move(cgroup));
  quota_cgroups_ = std::move(found);
}

void CpuHealthSampler::sample(uint64_t now_ns, double dt_s, RecordingWriter &out) {
  if (start_calibration_ && !start_written_) {
    out.set_meta(kCalibrationStartMeta, *start_calibration_);
    start_written_ = true;
  }
  if (end_calibration_ && !end_written_) {
    out.set_meta(kCalibrationEndMeta, *end_calibration_);
    end_written_ = true;
  }

  PressureReading pressure = read_pressure();
  // A sliver of an interval joins no row, as the load split's does.
  if (pressure.any() && last_pressure_.any() && dt_s >= kMinSeriesIntervalS) {
    const double elapsed_us = static_cast<double>(now_ns - last_pressure_ns_) / 1e3;
    auto pct = [&](const std::optional<ResourcePressure> &before, const std::optional<ResourcePressure> &after,
                   std::optional<PressureLine> ResourcePressure::*line) {
      if (!before || !after) return 0.0;
      return stall_pct((*before).*line, (*after).*line, elapsed_us).value_or(0.0);
    };
    PressureRow row{dt_s,
                    pct(last_pressure_.cpu, pressure.cpu, &ResourcePressure::some),
                    pct(last_pressure_.io, pressure.io, &ResourcePressure::some),
                    pct(last_pressure_.io, pressure.io, &ResourcePressure::full),
                    pct(last_pressure_.memory, pressure.memory, &ResourcePressure::some),
                    pct(last_pressure_.memory, pressure.memory, &ResourcePressure::full)};
    out.add_series(now_ns, "sched", "pressure", row);
  }
  last_pressure_ = std::move(pressure);
  last_pressure_ns_ = now_ns;

  if (++samples_since_discovery_ >= kRediscoverEvery) discover_quota_cgroups();
  sample_quotas(now_ns, out);
}

void CpuHealthSampler::sample_quotas(uint64_t now_ns, RecordingWriter &out) {
  // Only the cgroups the last walk found are kept: one that went (or lost its quota) wrote all it
  // added already, and forgetting its baseline too means that, should it come back, it counts from
  // its new first reading, never twice. A week of container churn cannot grow these maps.
  std::set<std::string> current;
  for (const auto &cgroup : quota_cgroups_) current.insert(cgroup.path);
  std::erase_if(last_throttled_, [&](const auto &e) { return !current.contains(e.first); });
  std::erase_if(baselines_, [&](const auto &e) { return !current.contains(e.first); });
  std::erase_if(members_, [&](const auto &e) { return !current.contains(e.first); });
  std::map<std::string, CgroupQuotaRow> by_path;
  for (auto &row : totals_)
    if (current.contains(row.cgroup)) by_path[row.cgroup] = std::move(row);
  for (const auto &cgroup : quota_cgroups_) {
    auto stat = read_cpu_stat(cgroup);
    if (!stat) continue;
    // The kernel counts since the cgroup was made: the window counts from the first reading (a
    // cgroup made mid-window loses at most the intervals until the next walk finds it).
    auto [base, first_seen] = baselines_.try_emplace(cgroup.path, *stat);
    if (first_seen) continue;
    auto since = [](uint64_t now, uint64_t then) { return now >= then ? now - then : 0; };
    stat->nr_periods = since(stat->nr_periods, base->second.nr_periods);
    stat->nr_throttled = since(stat->nr_throttled, base->second.nr_throttled);
    stat->throttled_ns = since(stat->throttled_ns, base->second.throttled_ns);
    stat->usage_ns = since(stat->usage_ns, base->second.usage_ns);
    CgroupQuotaRow &row = by_path[cgroup.path];
    row.cgroup = cgroup.path;
    row.hierarchy = cgroup.v2 ? "v2" : "v1";
    row.quota_millicpus = static_cast<uint64_t>(std::llround(cgroup.quota_cpus * 1000));
    // Totals since the first reading; the delta table keeps what each interval added.
    row.periods = stat->nr_periods;
    row.throttled_periods = stat->nr_throttled;
    row.throttled_ns = stat->throttled_ns;
    row.usage_ns = stat->usage_ns;
    // Its processes are read only when it was throttled again: what the report ties it to.
    auto [last, fresh] = last_throttled_.try_emplace(cgroup.path, stat->nr_throttled);
    if (fresh || stat->nr_throttled > last->second || !members_.contains(cgroup.path)) {
      std::string pids;
      for (uint32_t pid : cgroup_processes(cgroup, kMembersListed)) pids += (pids.empty() ? "" : " ") + std::to_string(pid);
      // Emptied since (its tasks exited in the last period): the last processes it had stay named.
      if (!pids.empty() || !members_.contains(cgroup.path)) members_[cgroup.path] = pids;
    }
    last->second = stat->nr_throttled;
    row.pids = members_[cgroup.path];
  }
  totals_.clear();
  for (auto &[path, row] : by_path) totals_.push_back(std::move(row));
  quota_table_.write(now_ns, totals_, out);
}

}  // namespace triage::sched

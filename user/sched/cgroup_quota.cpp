#include "sched/cgroup_quota.h"

#include <filesystem>
#include <fstream>
#include <sstream>
#include <system_error>

#include "core/text_fields.h"

namespace triage::sched {
namespace {

// A one-value file's value ("50000\n"), as a view into `text`.
std::string_view first_word(const std::string &text) {
  auto lines = split_lines(text);
  auto words = lines.empty() ? std::vector<std::string_view>{} : split_words(lines[0]);
  return words.empty() ? std::string_view() : words[0];
}

}  // namespace

std::vector<CpuHierarchy> cpu_hierarchies(std::string_view mounts_text) {
  std::vector<CpuHierarchy> out;
  std::string cpuacct_mount;  // v1's cpuacct mounted apart from cpu (its own directory)
  for (std::string_view line : split_lines(mounts_text)) {
    auto words = split_words(line);
    if (words.size() < 4) continue;
    std::string mount(words[1]);
    if (words[2] == "cgroup2") {
      // The v2 hierarchy has quotas only where the cpu controller is enabled at its root.
      const std::string controllers = read_small_file(mount + "/cgroup.controllers").value_or("");
      const std::string first_line = controllers.substr(0, controllers.find('\n'));
      for (auto word : split_words(first_line))
        if (word == "cpu") out.push_back({mount, true});
    } else if (words[2] == "cgroup") {
      std::string_view options = words[3];
      size_t pos = 0;
      bool cpu = false, cpuacct = false;
      while (pos <= options.size()) {
        size_t end = options.find(',', pos);
        std::string_view option = options.substr(pos, end == std::string_view::npos ? std::string_view::npos : end - pos);
        cpu = cpu || option == "cpu";
        cpuacct = cpuacct || option == "cpuacct";
        if (end == std::string_view::npos) break;
        pos = end + 1;
      }
      if (cpu) out.push_back({mount, false, cpuacct ? mount : ""});
      else if (cpuacct) cpuacct_mount = mount;
    }
  }
  for (auto &hierarchy : out)
    if (!hierarchy.v2 && hierarchy.cpuacct_mount.empty()) hierarchy.cpuacct_mount = cpuacct_mount;
  return out;
}

std::optional<double> read_quota_cpus(const std::string &dir, bool v2) {
  if (v2) {
    auto text = read_small_file(dir + "/cpu.max");
    if (!text) return std::nullopt;
    const std::string first_line = text->substr(0, text->find('\n'));
    auto words = split_words(first_line);
    if (words.size() < 2 || words[0] == "max") return std::nullopt;
    auto quota = to_number<uint64_t>(words[0]), period = to_number<uint64_t>(words[1]);
    if (!quota || !period || *period == 0) return std::nullopt;
    return static_cast<double>(*quota) / static_cast<double>(*period);
  }
  auto quota_text = read_small_file(dir + "/cpu.cfs_quota_us"), period_text = read_small_file(dir + "/cpu.cfs_period_us");
  if (!quota_text || !period_text) return std::nullopt;
  auto quota = to_number<int64_t>(first_word(*quota_text)), period = to_number<int64_t>(first_word(*period_text));
  if (!quota || !period || *quota <= 0 || *period <= 0) return std::nullopt;
  return static_cast<double>(*quota) / static_cast<double>(*period);
}

std::vector<QuotaCgroup> find_quota_cgroups(const CpuHierarchy &hierarchy, size_t limit, size_t max_dirs) {
  namespace fs = std::filesystem;
  std::vector<QuotaCgroup> out;
  auto consider = [&](const std::string &dir, std::string path) {
    if (auto quota = read_quota_cpus(dir, hierarchy.v2)) {
      std::string usage = hierarchy.v2 || hierarchy.cpuacct_mount.empty()
                              ? ""
                              : hierarchy.cpuacct_mount + (path == "/" ? "" : path) + "/cpuacct.usage";
      out.push_back({dir, std::move(path), hierarchy.v2, *quota, std::move(usage)});
    }
  };
  consider(hierarchy.mount, "/");  // v1's root may carry a quota; v2's has no cpu.max
  std::error_code error;
  fs::recursive_directory_iterator it(hierarchy.mount, fs::directory_options::skip_permission_denied, error), end;
  size_t visited = 0;
  for (; !error && it != end && out.size() < limit && visited < max_dirs; it.increment(error)) {
    if (!it->is_directory(error)) continue;  // cgroupfs holds directories and attribute files only
    visited++;
    std::string dir = it->path().string();
    consider(dir, dir.substr(hierarchy.mount.size()));
  }
  return out;
}

std::optional<CpuStat> parse_cpu_stat(std::string_view text, bool v2) {
  CpuStat stat;
  bool periods_seen = false;
  for (std::string_view line : split_lines(text)) {
    auto words = split_words(line);
    if (words.size() != 2) continue;
    auto value = to_number<uint64_t>(words[1]);
    if (!value) continue;
    if (words[0] == "nr_periods") {
      stat.nr_periods = *value;
      periods_seen = true;
    } else if (words[0] == "nr_throttled") {
      stat.nr_throttled = *value;
    } else if (v2 && words[0] == "throttled_usec") {
      stat.throttled_ns = *value * 1000;
    } else if (!v2 && words[0] == "throttled_time") {
      stat.throttled_ns = *value;
    } else if (v2 && words[0] == "usage_usec") {
      stat.usage_ns = *value * 1000;
    }
  }
  if (!periods_seen) return std::nullopt;
  return stat;
}

std::optional<CpuStat> read_cpu_stat(const QuotaCgroup &cgroup) {
  auto text = read_small_file(cgroup.dir + "/cpu.stat");
  if (!text) return std::nullopt;
  auto stat = parse_cpu_stat(*text, cgroup.v2);
  if (stat && !cgroup.usage_file.empty()) {
    // v1 counts usage in cpuacct: co-mounted with cpu on most distributions, apart on some.
    if (auto usage = read_small_file(cgroup.usage_file)) stat->usage_ns = to_number<uint64_t>(first_word(*usage)).value_or(0);
  }
  return stat;
}

std::vector<uint32_t> cgroup_processes(const QuotaCgroup &cgroup, size_t limit) {
  std::vector<uint32_t> pids;
  std::ifstream in(cgroup.dir + "/cgroup.procs");
  uint32_t pid = 0;
  while (pids.size() < limit && in >> pid) pids.push_back(pid);
  return pids;
}

}  // namespace triage::sched

#include "sched/sched_cpu_time.h"

#include <dirent.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <unordered_map>

#include <fmt/format.h>

#include "snapshot/snapshot_parts.h"

namespace triage::sched {
namespace {

using snapshot_detail::parse_pid;
using snapshot_detail::parse_pid_stat;
using snapshot_detail::ProcessStat;
using snapshot_detail::read_text_file;

std::string task_dir(const std::string &proc_root, uint32_t tgid, uint32_t tid) {
  return fmt::format("{}/{}/task/{}", proc_root, tgid, tid);
}

// /proc/<pid>/stat of a process or thread, parsed by the checklist's own parser.
std::optional<ProcessStat> stat_of(const std::string &path) {
  auto text = read_text_file(path, nullptr);
  return text ? parse_pid_stat(*text) : std::nullopt;
}

}  // namespace

std::optional<uint64_t> thread_exec_runtime_ns(const std::string &proc_root, uint32_t tgid, uint32_t tid) {
  std::ifstream in(task_dir(proc_root, tgid, tid) + "/schedstat");
  unsigned long long exec_ns = 0;
  if (!(in >> exec_ns)) return std::nullopt;
  return exec_ns;
}

void add_running_cpu_time(std::vector<ProcessWaits> &rows, const std::vector<sched_cpu_running> &running,
                          const std::string &proc_root) {
  std::unordered_map<uint32_t, size_t> row_of;
  for (size_t i = 0; i < rows.size(); i++) row_of.emplace(rows[i].tgid, i);
  for (const auto &run : running) {
    if (run.pid == 0) continue;
    auto now = thread_exec_runtime_ns(proc_root, run.tgid, run.pid);
    if (!now || *now <= run.exec_at_switch_in) continue;  // gone, or the record moved on meanwhile
    auto [it, added] = row_of.try_emplace(run.tgid, rows.size());
    if (added) {
      ProcessWaits row{run.tgid, {}};
      std::ifstream comm(fmt::format("{}/{}/comm", proc_root, run.tgid));
      std::string name;
      if (std::getline(comm, name)) std::strncpy(row.stats.comm, name.c_str(), sizeof row.stats.comm - 1);
      rows.push_back(row);
    }
    rows[it->second].stats.oncpu_ns += *now - run.exec_at_switch_in;
  }
}

const char *policy_name(int policy) {
  switch (policy) {
    case 0: return "SCHED_OTHER";
    case 1: return "SCHED_FIFO";
    case 2: return "SCHED_RR";
    case 3: return "SCHED_BATCH";
    case 5: return "SCHED_IDLE";
    case 6: return "SCHED_DEADLINE";
    default: return "unknown";
  }
}

std::optional<SchedulingAttributes> scheduling_attributes(const std::string &proc_root, uint32_t pid) {
  auto stat = stat_of(fmt::format("{}/{}/stat", proc_root, pid));
  if (!stat || !stat->nice || !stat->policy) return std::nullopt;
  SchedulingAttributes a;
  a.nice = static_cast<int>(*stat->nice);
  a.policy = policy_name(static_cast<int>(*stat->policy));
  std::ifstream status(fmt::format("{}/{}/status", proc_root, pid));
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("Cpus_allowed_list:", 0) != 0) continue;
    auto value = line.find_first_not_of(" \t", std::strlen("Cpus_allowed_list:"));
    if (value != std::string::npos) a.cpus_allowed = line.substr(value);
  }
  return a;
}

std::vector<ThreadCpu> busiest_threads(const std::string &proc_root, uint32_t tgid, uint64_t window_start_ticks,
                                       const std::function<std::optional<uint64_t>(uint32_t tid)> &exec_at_start,
                                       size_t limit) {
  std::vector<ThreadCpu> threads;
  std::string tasks = fmt::format("{}/{}/task", proc_root, tgid);
  DIR *dir = ::opendir(tasks.c_str());
  if (!dir) return threads;
  while (dirent *entry = ::readdir(dir)) {
    auto tid = parse_pid(entry->d_name);
    if (!tid) continue;
    auto now = thread_exec_runtime_ns(proc_root, tgid, static_cast<uint32_t>(*tid));
    if (!now) continue;
    uint64_t base = 0;
    if (auto seen = exec_at_start(static_cast<uint32_t>(*tid))) {
      base = *seen;
    } else {
      auto stat = stat_of(task_dir(proc_root, tgid, static_cast<uint32_t>(*tid)) + "/stat");
      if (!stat || !stat->start_ticks || static_cast<uint64_t>(*stat->start_ticks) < window_start_ticks) continue;
    }
    ThreadCpu t{static_cast<uint32_t>(*tid), "", *now > base ? *now - base : 0};
    std::ifstream comm(task_dir(proc_root, tgid, t.tid) + "/comm");
    std::getline(comm, t.comm);
    threads.push_back(std::move(t));
  }
  ::closedir(dir);
  std::sort(threads.begin(), threads.end(), [](const ThreadCpu &a, const ThreadCpu &b) {
    return a.cpu_ns != b.cpu_ns ? a.cpu_ns > b.cpu_ns : a.tid < b.tid;
  });
  if (threads.size() > limit) threads.resize(limit);
  return threads;
}

}  // namespace triage::sched

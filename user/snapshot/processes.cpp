// Task states (vmstat r/b, ps state letters, zombies) and deleted files still held open (lsof +L1).
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <set>
#include <unordered_map>

#include <fmt/format.h>

#include "snapshot/snapshot_parts.h"

namespace triage::snapshot_detail {

using nlohmann::json;

namespace {

constexpr size_t kMaxZombies = 50;
constexpr std::string_view kDeletedSuffix = " (deleted)";

// Calls visit(pid) for every numeric entry of proc_root. False if the directory cannot be opened.
template <typename Visit>
bool for_each_pid(const std::string &proc_root, Visit visit) {
  DIR *dir = ::opendir(proc_root.c_str());
  if (!dir) return false;
  while (dirent *entry = ::readdir(dir))
    if (auto pid = parse_pid(entry->d_name)) visit(*pid);
  ::closedir(dir);
  return true;
}

}  // namespace

std::optional<int> parse_pid(std::string_view name) {
  int pid = 0;
  auto [end, error] = std::from_chars(name.data(), name.data() + name.size(), pid);
  if (error != std::errc() || end != name.data() + name.size() || pid <= 0) return std::nullopt;
  return pid;
}

std::optional<ProcessStat> parse_pid_stat(std::string_view text) {
  // "pid (comm) state ppid ...": comm may hold spaces and parentheses, so it ends at the last ')'.
  size_t open = text.find('(');
  size_t close = text.rfind(')');
  if (open == std::string_view::npos || close == std::string_view::npos || close < open) return std::nullopt;
  ProcessStat stat;
  auto pid = parse_pid(text.substr(0, text.find(' ')));
  if (!pid) return std::nullopt;
  stat.pid = *pid;
  stat.comm = std::string(text.substr(open + 1, close - open - 1));

  // Fields after the comm, counted from state (field 3 of proc(5)): state, ppid, ... num_threads is field 20.
  std::vector<std::string_view> fields;
  std::string_view rest = text.substr(close + 1);
  for (size_t pos = 0; pos < rest.size() && fields.size() < 39;) {
    size_t start = rest.find_first_not_of(" \n", pos);
    if (start == std::string_view::npos) break;
    size_t end = rest.find_first_of(" \n", start);
    if (end == std::string_view::npos) end = rest.size();
    fields.push_back(rest.substr(start, end - start));
    pos = end;
  }
  if (fields.size() < 18 || fields[0].size() != 1) return std::nullopt;
  stat.state = fields[0][0];
  auto to_int = [](std::string_view word, auto &out) {
    auto [end, error] = std::from_chars(word.data(), word.data() + word.size(), out);
    return error == std::errc() && end == word.data() + word.size();
  };
  if (!to_int(fields[1], stat.ppid) || !to_int(fields[17], stat.num_threads)) return std::nullopt;
  auto optional_field = [&](size_t index, std::optional<int64_t> &out) {
    int64_t value = 0;
    if (index < fields.size() && to_int(fields[index], value)) out = value;
  };
  optional_field(16, stat.nice);
  optional_field(19, stat.start_ticks);
  optional_field(38, stat.policy);
  return stat;
}

std::vector<ProcessStat> read_processes(const std::string &proc_root) {
  std::vector<ProcessStat> processes;
  for_each_pid(proc_root, [&](int pid) {
    auto text = read_text_file(fmt::format("{}/{}/stat", proc_root, pid), nullptr);
    if (!text) return;  // exited since readdir
    if (auto stat = parse_pid_stat(*text)) processes.push_back(std::move(*stat));
  });
  std::sort(processes.begin(), processes.end(), [](const auto &a, const auto &b) { return a.pid < b.pid; });
  return processes;
}

json task_summary(const std::vector<ProcessStat> &processes, std::optional<int64_t> pid_max) {
  std::unordered_map<int, const ProcessStat *> by_pid;
  for (const auto &process : processes) by_pid[process.pid] = &process;

  std::map<char, int64_t> by_state{{'R', 0}, {'S', 0}, {'D', 0}, {'Z', 0}, {'T', 0}, {'I', 0}};
  int64_t threads = 0;
  json zombies = json::array();
  for (const auto &process : processes) {
    char state = process.state == 't' ? 'T' : process.state;  // traced counts as stopped
    if (auto it = by_state.find(state); it != by_state.end()) ++it->second;
    threads += process.num_threads;
    if (state != 'Z' || zombies.size() >= kMaxZombies) continue;
    auto parent = by_pid.find(process.ppid);
    zombies.push_back({{"pid", process.pid},
                       {"comm", valid_utf8(process.comm)},
                       {"ppid", process.ppid},
                       {"parent_comm", parent == by_pid.end() ? json(nullptr) : json(valid_utf8(parent->second->comm))}});
  }
  json tasks = json::object();
  for (const auto &[state, count] : by_state) tasks[std::string(1, state)] = count;
  tasks["total"] = processes.size();
  tasks["threads"] = threads;
  tasks["pid_max"] = pid_max ? json(*pid_max) : json(nullptr);
  tasks["zombies"] = std::move(zombies);
  return tasks;
}

namespace {

// What a deleted-file link points at, or nullopt for links that are not deleted files. memfd
// files are always "(deleted)": they never had a name on a disk, so they hold no disk space.
std::optional<std::string> deleted_path(std::string_view target) {
  if (!target.ends_with(kDeletedSuffix) || !target.starts_with('/') || target.starts_with("/memfd:"))
    return std::nullopt;
  target.remove_suffix(kDeletedSuffix.size());
  return std::string(target);
}

struct FdScan {
  int fd_cap;
  int fds_read = 0;
  int unreadable_processes = 0;
  json found = json::array();

  bool capped() const { return fds_read >= fd_cap; }

  void scan_process(const std::string &proc_root, const ProcessStat &process) {
    int dir_fd = ::open(fmt::format("{}/{}/fd", proc_root, process.pid).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir_fd < 0) {
      if (errno == EACCES || errno == EPERM) ++unreadable_processes;
      return;  // ENOENT: exited, or a kernel thread view without fds
    }
    DIR *dir = ::fdopendir(dir_fd);
    if (!dir) {
      ::close(dir_fd);
      return;
    }
    std::set<std::string> seen;  // a file open on several fds of one process is reported once
    while (dirent *entry = ::readdir(dir)) {
      if (entry->d_name[0] == '.') continue;
      if (capped()) break;
      ++fds_read;
      char target[4096];
      ssize_t length = ::readlinkat(dir_fd, entry->d_name, target, sizeof target);
      if (length <= 0) continue;
      auto path = deleted_path(std::string_view(target, static_cast<size_t>(length)));
      if (!path || !seen.insert(*path).second) continue;
      struct stat st {};
      // stat follows the magic link to the open file itself, which still exists while it is open.
      bool sized = ::fstatat(dir_fd, entry->d_name, &st, 0) == 0;
      found.push_back({{"pid", process.pid},
                       {"comm", valid_utf8(process.comm)},
                       {"path", valid_utf8(*path)},
                       {"size_kb", sized ? json((st.st_size + 1023) / 1024) : json(nullptr)}});
    }
    ::closedir(dir);
  }
};

}  // namespace

json scan_deleted_open_files(const std::string &proc_root, const std::vector<ProcessStat> &processes, int fd_cap,
                             SkipLog &skipped) {
  FdScan scan{fd_cap};
  for (const auto &process : processes) {
    if (scan.capped()) break;
    scan.scan_process(proc_root, process);
  }
  if (scan.capped())
    skipped.add("deleted_open_files", fmt::format("stopped after {} file descriptors; the list may be incomplete",
                                                  scan.fds_read));
  if (scan.unreadable_processes > 0)
    skipped.add("deleted_open_files", fmt::format("open files of {} processes not readable (needs root)",
                                                  scan.unreadable_processes));
  // Largest first: the point of the list is finding what holds disk space.
  std::stable_sort(scan.found.begin(), scan.found.end(), [](const json &a, const json &b) {
    return a["size_kb"].is_number() && (!b["size_kb"].is_number() || a["size_kb"] > b["size_kb"]);
  });
  return scan.found;
}

}  // namespace triage::snapshot_detail

#include "report/snapshot_findings.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "core/json_fields.h"
#include "snapshot/snapshot.h"
#include "snapshot/snapshot_parts.h"

namespace triage {
namespace {

using nlohmann::json;

// MemAvailable is the kernel's estimate of what can be allocated without swapping. Under 10% of
// RAM, reclaim starts stalling allocations (page cache thrown away, latency spikes); under 5% the
// OOM killer or heavy swapping is usually seconds away.
constexpr double kMemAvailableWarningPct = 10.0;
constexpr double kMemAvailableCriticalPct = 5.0;
// Pages swapped per second (in + out). The kernel pushes out idle anonymous pages now and then,
// a few pages a second is housekeeping; 100 pages/s (~400 KB/s with 4 KiB pages) sustained means
// the working set no longer fits; 1000 pages/s (~4 MB/s) is thrashing that stalls everything.
constexpr double kSwapPagesPerSecWarning = 100.0;
constexpr double kSwapPagesPerSecCritical = 1000.0;
// A zombie costs only a PID slot, and one may exist for a moment whenever a process exits before
// its parent reaps it: any zombie is worth an info line (who is the parent). Dozens mean a parent
// that never calls wait(), and the count only grows until PIDs run out.
constexpr int64_t kZombiesInfo = 1;
constexpr int64_t kZombiesWarning = 50;
// Every thread takes a PID. At 80% of kernel.pid_max a fork bomb or a thread leak has little room
// left; at 95% fork() and pthread_create() start failing with EAGAIN.
constexpr double kPidUsedWarningPct = 80.0;
constexpr double kPidUsedCriticalPct = 95.0;
// Like df's Use%: at 90% a log burst or a core dump can fill the rest in minutes; at 98% writes
// are failing or about to (ENOSPC), and ext4 keeps the last 5% for root only.
constexpr double kDiskUsedWarningPct = 90.0;
constexpr double kDiskUsedCriticalPct = 98.0;
// Inode exhaustion gives ENOSPC with free blocks left (millions of small files: mail queues,
// session files, caches). Same levels as for blocks.
constexpr double kInodesUsedWarningPct = 90.0;
constexpr double kInodesUsedCriticalPct = 98.0;
// Space held by files already deleted but still open (a rotated log kept open, a deleted
// temporary file): df counts it as used and du cannot find it. 100 MiB is worth knowing about;
// 1 GiB is the usual "df says full, du says not" mystery. It is critical when the filesystem
// holding it is itself over the disk-full warning level: releasing it is the fix.
constexpr uint64_t kDeletedHeldInfoKb = 100 * 1024;
constexpr uint64_t kDeletedHeldWarningKb = 1024 * 1024;
constexpr size_t kListed = 5;  // names or paths quoted in a title or evidence

// Filesystems that are full by design or cannot be written: images (squashfs for snaps, ISO,
// EROFS), memory-backed (tmpfs fills RAM and is judged by memory-pressure) and container layers
// (overlay: its upper directory lives on a real filesystem that is listed itself).
const std::set<std::string> kNotJudgedForSpace = {"tmpfs",  "devtmpfs", "ramfs", "overlay", "squashfs",
                                                  "iso9660", "udf",     "erofs", "cramfs",  "romfs"};

// A snapshot's figure, -1 when it was not read (a missing /proc file is no zero).
double number(const json &object, const char *key, double fallback = -1) { return num(object, key, fallback); }

std::string format_kb(double kb) {
  if (kb >= 1024.0 * 1024 * 1024) return fmt::format("{:.1f} TiB", kb / (1024.0 * 1024 * 1024));
  if (kb >= 1024.0 * 1024) return fmt::format("{:.1f} GiB", kb / (1024.0 * 1024));
  if (kb >= 1024.0) return fmt::format("{:.0f} MiB", kb / 1024.0);
  return fmt::format("{:.0f} KiB", kb);
}

json finding(const char *id, const char *severity, std::string title, json evidence, std::string advice) {
  return {{"id", id}, {"severity", severity}, {"title", std::move(title)}, {"evidence", std::move(evidence)},
          {"advice", std::move(advice)}};
}

// The snapshot to judge a level by: the end (what the machine is like now), else the start.
const json &latest(const json &start, const json &end, const char *key) {
  return at(end, key).is_null() ? at(start, key) : at(end, key);
}

void memory_pressure(const json &start, const json &end, json &findings) {
  // The lower of the two: memory that was short at the start and recovered still explains the window.
  double worst_pct = 101, total = 0, available = 0;
  const char *when = "";
  for (auto [snapshot, name] : {std::pair{&start, "start"}, std::pair{&end, "end"}}) {
    const json &mem = at(*snapshot, "mem");
    double t = number(mem, "total_kb"), a = number(mem, "available_kb");
    if (t <= 0 || a < 0) continue;
    double pct = 100.0 * a / t;
    if (pct < worst_pct) worst_pct = pct, total = t, available = a, when = name;
  }
  if (worst_pct >= kMemAvailableWarningPct) return;
  bool critical = worst_pct < kMemAvailableCriticalPct;
  findings.push_back(finding(
      "memory-pressure", critical ? "critical" : "warning",
      fmt::format("Memory is short: {} available of {} ({:.1f}%) at the {} of the window", format_kb(available),
                  format_kb(total), worst_pct, when),
      {{"available_kb", available}, {"total_kb", total}, {"available_pct", snapshot_detail::round_tenth(worst_pct)}, {"when", when},
       {"threshold_pct", critical ? kMemAvailableCriticalPct : kMemAvailableWarningPct}},
      "Find what holds the memory (ps aux --sort=-rss | head, or per cgroup: systemd-cgtop -m); restart or limit a "
      "leaking service, or add RAM. Expect the OOM killer or swapping if it keeps shrinking."));
}

void swap_activity(const json &start, const json &end, json &findings) {
  double worst_in = 0, worst_out = 0;
  bool measured = false;
  for (const json *snapshot : {&start, &end}) {
    const json &mem = at(*snapshot, "mem");
    double in = number(mem, "swap_in_per_s"), out = number(mem, "swap_out_per_s");
    if (in < 0 && out < 0) continue;
    measured = true;
    if (std::max(in, 0.0) + std::max(out, 0.0) > worst_in + worst_out) worst_in = std::max(in, 0.0), worst_out = std::max(out, 0.0);
  }
  double rate = worst_in + worst_out;
  if (!measured || rate < kSwapPagesPerSecWarning) return;
  bool critical = rate >= kSwapPagesPerSecCritical;
  const json &mem = latest(start, end, "mem");
  findings.push_back(finding(
      "swap-activity", critical ? "critical" : "warning",
      fmt::format("The machine is swapping: {:.0f} pages/s in, {:.0f} pages/s out", worst_in, worst_out),
      {{"swap_in_per_s", worst_in}, {"swap_out_per_s", worst_out}, {"swap_total_kb", number(mem, "swap_total_kb", 0)},
       {"swap_free_kb", number(mem, "swap_free_kb", 0)},
       {"threshold_pages_per_s", critical ? kSwapPagesPerSecCritical : kSwapPagesPerSecWarning}},
      "The working set no longer fits in RAM, so every access to swapped memory waits for the disk. Find the process "
      "that grew (ps aux --sort=-rss, smem) and restart or limit it, or add RAM; swap-in above all is what users "
      "feel as stalls."));
}

void zombies(const json &start, const json &end, json &findings) {
  const json &tasks = latest(start, end, "tasks");
  double count = number(tasks, "Z");
  if (count < static_cast<double>(kZombiesInfo)) return;
  // Who should reap them: the parents, most zombies first.
  std::map<std::string, int> by_parent;
  for (const auto &z : at(tasks, "zombies"))
    by_parent[fmt::format("{} ({})", str(z, "parent_comm").empty() ? "?" : str(z, "parent_comm"),
                          static_cast<int64_t>(number(z, "ppid", 0)))]++;
  std::vector<std::pair<std::string, int>> parents(by_parent.begin(), by_parent.end());
  std::stable_sort(parents.begin(), parents.end(), [](auto &a, auto &b) { return a.second > b.second; });
  std::string names;
  for (size_t i = 0; i < parents.size() && i < kListed; i++)
    names += fmt::format("{}{} x{}", names.empty() ? "" : ", ", parents[i].first, parents[i].second);
  bool warning = count >= static_cast<double>(kZombiesWarning);
  findings.push_back(finding(
      "zombies", warning ? "warning" : "info",
      fmt::format("{:.0f} zombie process(es){}", count, names.empty() ? "" : ", parent(s): " + names),
      {{"zombies", count}, {"parents", names.empty() ? json(nullptr) : json(names)},
       {"threshold", warning ? kZombiesWarning : kZombiesInfo}},
      "A zombie has already exited and holds only a PID until its parent calls wait(): killing the zombie does "
      "nothing. Fix or restart the parent named here (its children are then reaped by init)."));
}

void pid_exhaustion(const json &start, const json &end, json &findings) {
  const json &tasks = latest(start, end, "tasks");
  double pid_max = number(tasks, "pid_max");
  // Threads take PIDs too; older snapshots only have processes.
  double used = number(tasks, "threads");
  if (used < 0) used = number(tasks, "total");
  if (pid_max <= 0 || used < 0) return;
  double pct = 100.0 * used / pid_max;
  if (pct < kPidUsedWarningPct) return;
  bool critical = pct >= kPidUsedCriticalPct;
  findings.push_back(finding(
      "pid-exhaustion", critical ? "critical" : "warning",
      fmt::format("PIDs are running out: {:.0f} of {:.0f} in use ({:.0f}%)", used, pid_max, pct),
      {{"tasks", used}, {"pid_max", pid_max}, {"used_pct", snapshot_detail::round_tenth(pct)}, {"zombies", number(tasks, "Z", 0)},
       {"threshold_pct", critical ? kPidUsedCriticalPct : kPidUsedWarningPct}},
      "fork() and new threads fail with EAGAIN once PIDs run out. Find who holds them (ps -eLf | awk '{print $2}' | "
      "sort | uniq -c | sort -rn | head: threads per process) and stop the leak; raising kernel.pid_max only buys "
      "time."));
}

bool judged_for_space(const json &fs) {
  if (kNotJudgedForSpace.count(str(fs, "fstype"))) return false;
  if (fs.is_object() && fs.value("read_only", false)) return false;  // when a snapshot says so
  return number(fs, "size_kb", 0) > 0;
}

// The same mount in the other snapshot, to show how fast it filled during the window.
const json *same_mount(const json &snapshot, const std::string &mount) {
  for (const auto &fs : at(snapshot, "filesystems"))
    if (str(fs, "mount") == mount) return &fs;
  return nullptr;
}

void disk_and_inodes_full(const json &start, const json &end, json &findings) {
  const json &filesystems = latest(start, end, "filesystems");
  // Only when the level comes from the end snapshot is there an earlier one to compare with.
  const json *earlier = at(end, "filesystems").is_null() ? nullptr : &start;
  struct Rule {
    const char *id, *pct_key;
    double warning, critical;
  };
  for (const Rule &rule : {Rule{"disk-full", "used_pct", kDiskUsedWarningPct, kDiskUsedCriticalPct},
                           Rule{"inodes-full", "inodes_used_pct", kInodesUsedWarningPct, kInodesUsedCriticalPct}}) {
    bool blocks = std::string(rule.id) == "disk-full";
    for (const auto &fs : filesystems) {
      double pct = number(fs, rule.pct_key);
      if (!judged_for_space(fs) || pct < rule.warning) continue;
      bool critical = pct >= rule.critical;
      std::string mount = str(fs, "mount");
      json evidence = {{"mount", mount},
                       {"device", str(fs, "device")},
                       {"fstype", str(fs, "fstype")},
                       {"used_pct", pct},
                       {"threshold_pct", critical ? rule.critical : rule.warning}};
      std::string title;
      if (blocks) {
        evidence["size_kb"] = number(fs, "size_kb", 0);
        evidence["avail_kb"] = number(fs, "avail_kb", 0);
        title = fmt::format("Filesystem {} is {:.0f}% full ({} left of {})", mount, pct,
                            format_kb(number(fs, "avail_kb", 0)), format_kb(number(fs, "size_kb", 0)));
        if (const json *before = earlier ? same_mount(*earlier, mount) : nullptr) {
          double shrink = number(*before, "avail_kb", 0) - number(fs, "avail_kb", 0);
          evidence["avail_change_kb"] = -shrink;
          if (shrink > 0) title += fmt::format(", {} used up during the window", format_kb(shrink));
        }
      } else {
        evidence["inodes"] = number(fs, "inodes", 0);
        evidence["inodes_free"] = number(fs, "inodes_free", 0);
        title = fmt::format("Filesystem {} has used {:.0f}% of its inodes ({:.0f} left)", mount, pct,
                            number(fs, "inodes_free", 0));
      }
      findings.push_back(finding(
          rule.id, critical ? "critical" : "warning", std::move(title), std::move(evidence),
          blocks ? fmt::format("Writes to {} will fail with 'No space left on device'. Find what grew (du -xh {} "
                               "--max-depth=2 | sort -h | tail), rotate or delete old logs, core dumps and caches; "
                               "check deleted-but-open files (lsof +L1) if du finds less than df.",
                               mount, mount)
                 : fmt::format("New files on {} will fail with 'No space left on device' although blocks are free. "
                               "Find the directory with millions of small files (du -x --inodes {} | sort -n | tail) "
                               "and clean it (sessions, mail queue, cache).",
                               mount, mount)));
    }
  }
}

// The mounted filesystem a path lives on: the longest mount point that prefixes it.
const json *filesystem_of(const json &filesystems, const std::string &path) {
  const json *best = nullptr;
  size_t best_len = 0;
  for (const auto &fs : filesystems) {
    std::string mount = str(fs, "mount");
    bool under = mount == "/" || path == mount || (path.starts_with(mount) && path.size() > mount.size() &&
                                                    path[mount.size()] == '/');
    if (under && mount.size() >= best_len) best = &fs, best_len = mount.size();
  }
  return best;
}

void deleted_open_files(const json &start, const json &end, json &findings) {
  const json &snapshot = at(end, "deleted_open_files").is_null() ? start : end;
  // One file held by many processes (forked workers) takes its space once.
  std::map<std::string, std::pair<double, std::string>> by_path;  // path -> size, holder
  for (const auto &f : at(snapshot, "deleted_open_files")) {
    double kb = number(f, "size_kb", 0);
    auto &entry = by_path[str(f, "path")];
    if (kb > entry.first || entry.second.empty())
      entry = {std::max(entry.first, kb), fmt::format("{} ({})", str(f, "comm"), static_cast<int64_t>(number(f, "pid", 0)))};
  }
  double total_kb = 0;
  for (const auto &[path, e] : by_path) total_kb += e.first;
  if (total_kb < static_cast<double>(kDeletedHeldInfoKb)) return;
  std::vector<std::pair<std::string, std::pair<double, std::string>>> files(by_path.begin(), by_path.end());
  std::stable_sort(files.begin(), files.end(), [](auto &a, auto &b) { return a.second.first > b.second.first; });

  // Critical when releasing it would relieve a filesystem that is itself nearly full.
  const json &filesystems = at(snapshot, "filesystems");
  std::string full_mount;
  for (const auto &[path, e] : files) {
    const json *fs = filesystem_of(filesystems, path);
    if (fs && e.first >= static_cast<double>(kDeletedHeldInfoKb) && judged_for_space(*fs) &&
        number(*fs, "used_pct") >= kDiskUsedWarningPct) {
      full_mount = str(*fs, "mount");
      break;
    }
  }
  const char *severity = total_kb < static_cast<double>(kDeletedHeldWarningKb) ? "info"
                         : full_mount.empty()                                  ? "warning"
                                                                               : "critical";
  json largest = json::array();
  for (size_t i = 0; i < files.size() && i < kListed; i++)
    largest.push_back({{"path", files[i].first}, {"size_kb", files[i].second.first}, {"held_by", files[i].second.second}});
  json evidence = {{"total_kb", total_kb}, {"files", by_path.size()}, {"largest", largest}};
  if (!full_mount.empty()) evidence["on_full_filesystem"] = full_mount;
  findings.push_back(finding(
      "deleted-open-files", severity,
      fmt::format("{} held by {} deleted file(s) still open; largest {} held by {}", format_kb(total_kb),
                  by_path.size(), files[0].first, files[0].second.second),
      std::move(evidence),
      "The space of a deleted file comes back only when the last process holding it closes it, so df counts it and "
      "du cannot find it. Restart or signal the holder to reopen its logs (e.g. logrotate's postrotate, "
      "systemctl reload), or truncate it in place: : > /proc/<pid>/fd/<fd> (find the fd with lsof +L1)."));
}

// What a kernel-log line (the snapshot keeps only these three kinds) is about.
const char *kmsg_kind(const std::string &text) {
  if (text.find("blocked for more than") != std::string::npos) return "hung-task";
  if (text.find("SYN flooding") != std::string::npos) return "syn-flood";
  return "oom";
}

// The kernel log reaches back to boot. Only its lines from inside the window are this incident;
// older ones are history, told at info with how long before the window they were logged. OOM
// kills and SYN floods inside the window are the oom and tcp families' findings, from their own
// hooks; the hung-task detector has no family, so its reports inside the window are raised here.
void kernel_log(const json &start, const json &end, json &findings) {
  const json &lines = latest(start, end, "kmsg");
  if (!lines.is_array()) return;
  std::vector<const json *> hung_inside;
  std::map<std::string, int> before_by_kind;
  size_t before = 0;
  double latest_before_s = -1;
  for (const auto &line : lines) {
    if (!line.is_object() || !line.contains("in_window") || !line["in_window"].is_boolean()) continue;  // not placed
    std::string kind = kmsg_kind(str(line, "text"));
    double before_s = number(line, "before_window_s");
    if (before_s >= 0) {
      before++;
      before_by_kind[kind]++;
      if (latest_before_s < 0 || before_s < latest_before_s) latest_before_s = before_s;
    } else if (line["in_window"].get<bool>() && kind == std::string("hung-task")) {
      hung_inside.push_back(&line);
    }
  }
  if (!hung_inside.empty()) {
    json reports = json::array();
    for (size_t i = 0; i < hung_inside.size() && i < kListed; i++) reports.push_back(str(*hung_inside[i], "text"));
    findings.push_back(finding(
        "hung-task", "warning",
        fmt::format("The kernel reported {} hung task(s) during the window: {}", hung_inside.size(),
                    str(*hung_inside[0], "text")),
        {{"reports", hung_inside.size()}, {"first", reports}},
        "A task stayed in uninterruptible sleep (D) past kernel.hung_task_timeout_secs: see the D-state processes "
        "and the devices they waited on; the kernel log holds its stack (dmesg). A stuck device, a hung NFS server "
        "or a lock held across I/O are the usual causes."));
  }
  if (before) {
    std::string kinds;
    for (const auto &[kind, count] : before_by_kind) kinds += fmt::format("{}{} {}", kinds.empty() ? "" : ", ", kind, count);
    findings.push_back(finding(
        "kernel-log-before-window", "info",
        fmt::format("The kernel log holds {} line(s) from before the window ({}), the latest logged {} before it "
                    "started: history, not this incident",
                    before, kinds, elapsed_text(latest_before_s)),
        {{"lines", before}, {"kinds", kinds}, {"latest_before_window_s", latest_before_s}},
        "Read them as context (an earlier OOM kill or SYN flood may have left the machine as it is), not as what "
        "happened in the window: the checklist lists them apart with how long before the window each was logged."));
  }
}

}  // namespace

void add_snapshot_findings(const json &report, json &findings) {
  if (!report.is_object() || !report.contains("snapshot") || !report["snapshot"].is_object()) return;
  const json &start = at(report["snapshot"], "start");
  const json &end = at(report["snapshot"], "end");
  if (!start.is_object() && !end.is_object()) return;
  memory_pressure(start, end, findings);
  swap_activity(start, end, findings);
  zombies(start, end, findings);
  pid_exhaustion(start, end, findings);
  disk_and_inodes_full(start, end, findings);
  deleted_open_files(start, end, findings);
  kernel_log(start, end, findings);
}

}  // namespace triage

// take_snapshot(): runs each checklist step independently, so one unreadable file costs only its
// own part of the snapshot.
#include "snapshot/snapshot.h"

#include <sys/stat.h>

#include <charconv>
#include <chrono>
#include <ctime>
#include <thread>

#include <fmt/format.h>

#include "core/pressure.h"
#include "snapshot/snapshot_parts.h"

namespace triage {

using nlohmann::json;
using namespace snapshot_detail;

namespace {

struct Sample {
  std::optional<ProcStat> stat;
  std::optional<std::map<std::string, int64_t>> vmstat;
  std::chrono::steady_clock::time_point taken;
};

Sample take_sample(const SnapshotOptions &options, SkipLog *skipped) {
  Sample sample;
  std::string reason;
  if (auto text = read_text_file(options.proc_root + "/stat", &reason))
    sample.stat = parse_proc_stat(*text);
  else if (skipped)
    skipped->add("cpus", reason);
  if (auto text = read_text_file(options.proc_root + "/vmstat", &reason))
    sample.vmstat = parse_key_values(*text);
  else if (skipped)
    skipped->add("mem.swap", reason);
  sample.taken = std::chrono::steady_clock::now();
  return sample;
}

// Reads a file and hands its text to `use`; on failure records the part as skipped.
template <typename Use>
void with_file(const std::string &path, const char *part, SkipLog &skipped, Use use) {
  std::string reason;
  if (auto text = read_text_file(path, &reason))
    use(*text);
  else
    skipped.add(part, reason);
}

// Runs one step; an exception (a parser bug, bad_alloc) costs only that part.
template <typename Step>
void guarded(const char *part, SkipLog &skipped, Step step) {
  try {
    step();
  } catch (const std::exception &error) {
    skipped.add(part, fmt::format("internal error: {}", error.what()));
  } catch (...) {
    skipped.add(part, "internal error");
  }
}

json empty_snapshot() {
  return {{"time_ns", nullptr},       {"uptime_s", nullptr},      {"loadavg", nullptr},
          {"procs_running", nullptr}, {"procs_blocked", nullptr}, {"ncpu", nullptr},
          {"cpus", json::array()},    {"mem", nullptr},           {"filesystems", json::array()},
          {"deleted_open_files", json::array()},                  {"tasks", nullptr},
          {"sockets", nullptr},       {"netstat", nullptr},       {"netstat_netns", nullptr},
          {"netstat_netns_is_pid1s", nullptr},                    {"kmsg", json::array()},
          {"pressure", nullptr},
          {"skipped", json::array()}};
}

int64_t realtime_ns() {
  timespec now{};
  clock_gettime(CLOCK_REALTIME, &now);
  return static_cast<int64_t>(now.tv_sec) * 1'000'000'000 + now.tv_nsec;
}

// CPU percentages and procs_running/blocked from the second sample (or the only one).
void fill_cpu(json &snapshot, const Sample &before, const Sample &after) {
  if (!after.stat) return;
  std::vector<CpuTimes> baseline = before.stat ? before.stat->cpus : std::vector<CpuTimes>{};
  snapshot["cpus"] = cpu_percentages(baseline, after.stat->cpus);
  snapshot["ncpu"] = after.stat->cpus.size();
  if (after.stat->procs_running) snapshot["procs_running"] = *after.stat->procs_running;
  if (after.stat->procs_blocked) snapshot["procs_blocked"] = *after.stat->procs_blocked;
}

// Pages swapped in and out per second over the sample, or since boot when there is one sample.
void fill_swap_rates(json &mem, const Sample &before, const Sample &after, std::optional<double> uptime_s) {
  if (!after.vmstat || mem.is_null()) return;
  double seconds = std::chrono::duration<double>(after.taken - before.taken).count();
  bool since_boot = !before.vmstat || before.taken == after.taken;
  if (since_boot) seconds = uptime_s.value_or(0);
  if (seconds <= 0) return;
  auto rate = [&](const char *counter) -> json {
    auto now = after.vmstat->find(counter);
    if (now == after.vmstat->end()) return nullptr;
    int64_t then = 0;
    if (!since_boot) {
      auto earlier = before.vmstat->find(counter);
      then = earlier == before.vmstat->end() ? now->second : earlier->second;
    }
    return round_tenth(static_cast<double>(now->second - then) / seconds);
  };
  mem["swap_in_per_s"] = rate("pswpin");
  mem["swap_out_per_s"] = rate("pswpout");
}

// The network namespace of a process ("self" or a pid) under proc_root; nullopt when it cannot
// be read (another user's process without privilege).
std::optional<uint64_t> network_namespace_inode(const std::string &proc_root, const char *process = "self") {
  struct stat st {};
  if (::stat(fmt::format("{}/{}/ns/net", proc_root, process).c_str(), &st) != 0) return std::nullopt;
  return st.st_ino;
}

std::optional<std::vector<DiagSocket>> tcp_sockets_from_proc(const std::string &proc_root, std::string *reason) {
  std::optional<std::vector<DiagSocket>> sockets;
  for (const char *file : {"/net/tcp", "/net/tcp6"}) {
    // tcp6 is missing when IPv6 is disabled; either file alone is still an answer.
    if (auto text = read_text_file(proc_root + file, reason)) {
      if (!sockets) sockets.emplace();
      auto parsed = parse_proc_net_tcp(*text);
      sockets->insert(sockets->end(), parsed.begin(), parsed.end());
    }
  }
  return sockets;
}

json read_sockets(const SnapshotOptions &options, SkipLog &skipped) {
  if (!options.read_sockets) {
    skipped.add("sockets", "disabled by options");
    return nullptr;
  }
  std::string reason;
  auto sockets = dump_tcp_sockets_netlink(&reason);
  SocketSource source = SocketSource::sock_diag;
  if (!sockets) {
    source = SocketSource::proc_net_tcp;
    skipped.add("sockets", reason + "; read /proc/net/tcp instead (no backlog maximum)");
    sockets = tcp_sockets_from_proc(options.proc_root, &reason);
    if (!sockets) {
      skipped.add("sockets", reason);
      return nullptr;
    }
  }
  return socket_summary(*sockets, network_namespace_inode(options.proc_root), source);
}

std::optional<int64_t> read_pid_max(const std::string &proc_root, SkipLog &skipped) {
  std::string reason;
  auto text = read_text_file(proc_root + "/sys/kernel/pid_max", &reason);
  if (!text) {
    skipped.add("tasks.pid_max", reason);
    return std::nullopt;
  }
  int64_t pid_max = 0;
  if (std::from_chars(text->data(), text->data() + text->size(), pid_max).ec != std::errc()) {
    skipped.add("tasks.pid_max", "not a number");
    return std::nullopt;
  }
  return pid_max;
}

void fill_snapshot(json &snapshot, const SnapshotOptions &options, SkipLog &skipped) {
  snapshot["time_ns"] = realtime_ns();

  // The CPU and swap sample runs first and alone: the work below would otherwise show up in it as
  // our own CPU time.
  Sample before, after;
  guarded("cpus", skipped, [&] {
    if (options.cpu_sample_ms > 0) {
      before = take_sample(options, nullptr);
      std::this_thread::sleep_for(std::chrono::milliseconds(options.cpu_sample_ms));
    }
    after = take_sample(options, &skipped);
    if (options.cpu_sample_ms <= 0) before.taken = after.taken;
    fill_cpu(snapshot, before, after);
  });

  std::optional<double> uptime;
  guarded("uptime_s", skipped, [&] {
    with_file(options.proc_root + "/uptime", "uptime_s", skipped, [&](const std::string &text) {
      uptime = parse_uptime(text);
      if (uptime) snapshot["uptime_s"] = *uptime;
    });
  });
  guarded("loadavg", skipped, [&] {
    with_file(options.proc_root + "/loadavg", "loadavg", skipped, [&](const std::string &text) {
      if (auto load = parse_loadavg(text)) snapshot["loadavg"] = {load->one, load->five, load->fifteen};
    });
  });
  guarded("mem", skipped, [&] {
    with_file(options.proc_root + "/meminfo", "mem", skipped, [&](const std::string &text) {
      snapshot["mem"] = mem_from_meminfo(parse_key_values(text));
      fill_swap_rates(snapshot["mem"], before, after, uptime);
    });
  });
  guarded("pressure", skipped, [&] {
    PressureReading pressure = read_pressure(options.proc_root + "/pressure");
    if (pressure.any())
      snapshot["pressure"] = pressure_json(pressure);
    else
      skipped.add("pressure", "no /proc/pressure (a kernel without CONFIG_PSI, or booted with psi=0)");
  });
  guarded("filesystems", skipped, [&] {
    with_file(options.proc_root + "/mounts", "filesystems", skipped, [&](const std::string &text) {
      snapshot["filesystems"] = filesystem_usage(filesystems_worth_reporting(parse_mounts(text)), skipped);
    });
  });

  std::vector<ProcessStat> processes;
  guarded("tasks", skipped, [&] {
    processes = read_processes(options.proc_root);
    if (processes.empty()) {
      skipped.add("tasks", fmt::format("no /proc/<pid>/stat readable under {}", options.proc_root));
      return;
    }
    snapshot["tasks"] = task_summary(processes, read_pid_max(options.proc_root, skipped));
  });
  guarded("deleted_open_files", skipped, [&] {
    snapshot["deleted_open_files"] = scan_deleted_open_files(options.proc_root, processes, kMaxFdsScanned, skipped);
  });

  guarded("sockets", skipped, [&] { snapshot["sockets"] = read_sockets(options, skipped); });
  guarded("netstat", skipped, [&] {
    std::string netstat_reason, snmp_reason;
    auto netstat = read_text_file(options.proc_root + "/net/netstat", &netstat_reason);
    auto snmp = read_text_file(options.proc_root + "/net/snmp", &snmp_reason);
    if (!netstat) skipped.add("netstat", netstat_reason);
    if (!snmp) skipped.add("netstat", snmp_reason);
    if (netstat || snmp) snapshot["netstat"] = netstat_counters(netstat.value_or(""), snmp.value_or(""));
    // /proc/net is the reader's own namespace: the counters are that namespace's alone, and the
    // report says so beside them (the machine's other namespaces count their own TCP).
    auto own = network_namespace_inode(options.proc_root);
    if (own) snapshot["netstat_netns"] = *own;
    if (auto pid1 = network_namespace_inode(options.proc_root, "1"); own && pid1)
      snapshot["netstat_netns_is_pid1s"] = *own == *pid1;
  });
  guarded("kmsg", skipped, [&] {
    std::string reason;
    if (auto kmsg = read_kmsg(options.kmsg_path, &reason))
      snapshot["kmsg"] = std::move(*kmsg);
    else
      skipped.add("kmsg", reason);
  });
}

}  // namespace

json take_snapshot(const SnapshotOptions &options) {
  SkipLog skipped;
  json snapshot;
  try {
    snapshot = empty_snapshot();
    fill_snapshot(snapshot, options, skipped);
    snapshot["skipped"] = skipped.to_json();
  } catch (...) {
    // Only allocation failure gets here (each step is guarded); return what the shape promises.
    try {
      snapshot = empty_snapshot();
      snapshot["skipped"] = json::array({{{"part", "snapshot"}, {"reason", "out of memory"}}});
    } catch (...) {
    }
  }
  return snapshot;
}

}  // namespace triage

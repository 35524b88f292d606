// The classic first-minute /proc checklist (uptime, vmstat, mpstat, free, df, ss, netstat, dmesg)
// taken in one call and returned as JSON, plus a compact human rendering of it.
#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace triage {

struct SnapshotOptions {
  std::string proc_root = "/proc";    // tests point these at fixture directories
  std::string sys_root = "/sys";
  std::string kmsg_path = "/dev/kmsg";
  int cpu_sample_ms = 200;            // per-CPU user/system/iowait/idle/steal sampled over this span (0 = since boot)
  bool read_sockets = true;           // sock_diag netlink (live only)
};

// Reads the machine's state. Never throws and never fails as a whole: a part that cannot be read
// (permission, missing file, old kernel) is left null or empty and listed in "skipped" with the
// reason. Shape (keys are a contract):
//   {time_ns, uptime_s, loadavg[3], procs_running, procs_blocked, ncpu,
//    cpus[{cpu, user, system, iowait, idle, steal}]               percentages over the sample span
//    mem{total_kb, free_kb, available_kb, buffers_kb, cached_kb, swap_total_kb, swap_free_kb,
//        swap_in_per_s, swap_out_per_s}                            swap rates in pages per second
//    filesystems[{mount, fstype, device, size_kb, avail_kb, used_pct, inodes, inodes_free, inodes_used_pct}]
//    deleted_open_files[{pid, comm, path, size_kb}]
//    tasks{R, S, D, Z, T, I, total, threads, pid_max, zombies[{pid, comm, ppid, parent_comm}]}
//    sockets{states{NAME: n}, by_port[{port, state, count}], listeners[{addr, port, backlog, backlog_max, netns}]}
//    netstat{TcpExt counters by name, Tcp counters as "Tcp"+name}
//    netstat_netns, netstat_netns_is_pid1s   the network namespace (inode) netstat was read in, and
//                                            whether PID 1 shares it (null when unknown)
//    kmsg[{time, level, text}]                 OOM kills, SYN floods, hung tasks, machine checks
//    pressure{cpu, io, memory: {some, full: {avg10, avg60, avg300, total_us}}}   PSI, null without it
//    skipped[{part, reason}]}
// Strings from the machine are valid UTF-8 in the JSON (invalid bytes become "\xNN") but may hold
// control characters: pass them through terminal_safe() before printing them raw.
nlohmann::json take_snapshot(const SnapshotOptions &options = {});

// Human text of a snapshot, one section per checklist step. Every machine-provided string is
// passed through terminal_safe().
std::string render_snapshot_text(const nlohmann::json &snapshot);

// How long, for a human: "4.2s", "42s", "12m05s", "3h12m", "2d04h"; "unknown" for a negative or NaN.
std::string elapsed_text(double seconds);

// Makes a machine-provided string safe to write to a terminal: control bytes (< 0x20, 0x7f, the
// C1 range U+0080..U+009F, which some terminals honour as 8-bit escape sequences) and bytes that
// are not valid UTF-8 become "\xNN"; Unicode bidirectional overrides, which can make displayed
// text lie about its order, become "?". Printable UTF-8 is kept as is.
std::string terminal_safe(std::string_view text);

// Whether a kernel-log line reports a hardware error or a CPU clocked down for heat: a machine
// check, a corrected or uncorrected EDAC memory error, thermal throttling. Not the drivers' boot
// banners ("EDAC MC: Ver: 3.0.0", "mce: CPU0: Thermal monitoring enabled").
bool is_hardware_error_message(std::string_view text);

}  // namespace triage

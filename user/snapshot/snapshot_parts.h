// Internals of take_snapshot(), exposed for unit tests: text parsers that take file contents (so
// fixtures can be fed directly) and readers that take a proc root. Not a stable interface.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/sock_diag.h"

namespace triage::snapshot_detail {

// ---- text helpers -------------------------------------------------------------------------

// Whole file as a string, or nullopt with errno-based reason in *reason.
std::optional<std::string> read_text_file(const std::string &path, std::string *reason);

// The UTF-8 character at text[pos], or nullopt if the bytes there are not valid UTF-8 (truncated,
// overlong, surrogate or beyond U+10FFFF).
struct Utf8Char {
  size_t length = 0;
  char32_t codepoint = 0;
};
std::optional<Utf8Char> decode_utf8(std::string_view text, size_t pos);

// Replaces bytes that are not part of valid UTF-8 with "\xNN" so nlohmann::json::dump() cannot
// throw on machine-provided strings (comm, paths, kmsg text).
std::string valid_utf8(std::string_view text);

// Percentages and rates are rounded to 0.1 so the JSON reads like mpstat, not 15 digits.
double round_tenth(double value);

// Collects {part, reason} entries for the "skipped" array.
class SkipLog {
 public:
  void add(std::string part, std::string_view reason);
  nlohmann::json to_json() const;
  const std::vector<std::pair<std::string, std::string>> &entries() const { return entries_; }

 private:
  std::vector<std::pair<std::string, std::string>> entries_;
};

// ---- system-wide files ----------------------------------------------------------------------

struct LoadAvg {
  double one = 0, five = 0, fifteen = 0;
};
std::optional<LoadAvg> parse_loadavg(std::string_view text);

std::optional<double> parse_uptime(std::string_view text);  // first field of /proc/uptime

// One "cpuN" line of /proc/stat in jiffies. Kernels before 2.6.11 print fewer columns (no steal,
// before 2.5.41 no iowait/irq/softirq): missing columns are zero.
struct CpuTimes {
  int cpu = -1;
  uint64_t user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0;
};
struct ProcStat {
  std::vector<CpuTimes> cpus;  // per-CPU lines only (not the aggregate "cpu" line), online CPUs
  std::optional<int64_t> procs_running, procs_blocked;  // absent before 2.5.45
};
ProcStat parse_proc_stat(std::string_view text);

// Percentages of each CPU's time between two samples (or since boot when `before` is empty).
// user includes nice, system includes irq and softirq, as vmstat counts them.
nlohmann::json cpu_percentages(const std::vector<CpuTimes> &before, const std::vector<CpuTimes> &after);

// "Key: value [kB]" (meminfo) or "key value" (vmstat) lines into a map of the numbers.
std::map<std::string, int64_t> parse_key_values(std::string_view text);

// mem object from meminfo (available_kb is null on kernels before 3.14, which lack MemAvailable).
nlohmann::json mem_from_meminfo(const std::map<std::string, int64_t> &meminfo);

// Pairs of "Section: name name ..." / "Section: value value ..." lines (/proc/net/netstat,
// /proc/net/snmp) into section -> (name -> value).
std::map<std::string, std::map<std::string, int64_t>> parse_header_value_pairs(std::string_view text);

// The netstat object: every TcpExt counter by its name, every Tcp counter as "Tcp"+name.
nlohmann::json netstat_counters(std::string_view netstat_text, std::string_view snmp_text);

// ---- filesystems ----------------------------------------------------------------------------

struct MountEntry {
  std::string device, mount, fstype;
};
// /proc/mounts lines with octal escapes (\040 for space) decoded.
std::vector<MountEntry> parse_mounts(std::string_view text);
// Real block-backed filesystems and tmpfs, without pseudo filesystems, one entry per device
// (the shortest mount point of a bind-mounted device, as df shows it).
std::vector<MountEntry> filesystems_worth_reporting(const std::vector<MountEntry> &mounts);
nlohmann::json filesystem_usage(const std::vector<MountEntry> &filesystems, SkipLog &skipped);

// ---- processes ------------------------------------------------------------------------------

struct ProcessStat {
  int pid = 0;
  std::string comm;
  char state = '?';
  int ppid = 0;
  int64_t num_threads = 0;
  // Further fields, absent from a line that stops early: nice (19), starttime (22, clock ticks
  // since boot) and the scheduling policy (41, SCHED_OTHER = 0, SCHED_FIFO = 1, ...).
  std::optional<int64_t> nice, start_ticks, policy;
};
std::optional<ProcessStat> parse_pid_stat(std::string_view text);
// A /proc directory entry's name as a pid (or tid): digits only, above 0.
std::optional<int> parse_pid(std::string_view name);

// Every process of proc_root from one read of /proc/<pid>/stat each. Processes that exit while
// being read are silently missing.
std::vector<ProcessStat> read_processes(const std::string &proc_root);

// tasks object: counts by state letter, threads, pid_max (null if unreadable), zombies (first 50).
nlohmann::json task_summary(const std::vector<ProcessStat> &processes, std::optional<int64_t> pid_max);

constexpr int kMaxFdsScanned = 20000;
// Open files whose link target ends in " (deleted)" (memfd and other anonymous files excepted),
// reading at most fd_cap links in total. Notes unreadable processes and the cap in `skipped`.
nlohmann::json scan_deleted_open_files(const std::string &proc_root, const std::vector<ProcessStat> &processes,
                                       int fd_cap, SkipLog &skipped);

// ---- sockets --------------------------------------------------------------------------------

// One TCP socket, from sock_diag or /proc/net/tcp{,6}.
// Where the sockets were read: /proc/net/tcp shows a listener's accept queue but not its limit.
enum class SocketSource { sock_diag, proc_net_tcp };

const char *tcp_state_name(int state);

// Dumps TCP sockets (IPv4 and IPv6, all states) of this network namespace over NETLINK_SOCK_DIAG.
// nullopt with *reason on failure.
std::optional<std::vector<DiagSocket>> dump_tcp_sockets_netlink(std::string *reason);

// Parses /proc/net/tcp or /proc/net/tcp6 (the format is the same; addresses differ in width).
// wqueue and inode stay 0: socket_summary() is told the source, and reads neither from it.
std::vector<DiagSocket> parse_proc_net_tcp(std::string_view text);

// sockets object. by_port groups by the service port (the local port of sockets on a listening
// port, otherwise the remote port, so thousands of ephemeral client ports collapse into the port
// they talk to) and keeps the 50 largest groups.
nlohmann::json socket_summary(const std::vector<DiagSocket> &sockets, std::optional<uint64_t> netns,
                              SocketSource source);

// ---- kernel log -----------------------------------------------------------------------------

constexpr size_t kMaxKmsgLines = 200;

// One /dev/kmsg record "prio,seq,usec,flags[,...];text" if its text is about an OOM kill, a SYN
// flood or a hung task; nullopt for other records and for " KEY=value" continuation lines.
std::optional<nlohmann::json> interesting_kmsg_record(std::string_view line);

// Reads kmsg_path without blocking (or a plain file of records, for tests) and keeps the last
// kMaxKmsgLines interesting records. nullopt with *reason if it cannot be opened.
std::optional<nlohmann::json> read_kmsg(const std::string &kmsg_path, std::string *reason);

}  // namespace triage::snapshot_detail

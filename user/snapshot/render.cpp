// render_snapshot_text(): the snapshot as the classic checklist commands would have shown it.
// Tolerates missing or null parts (a skipped part, or a snapshot from an older version).
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>

#include "core/json_fields.h"
#include "snapshot/snapshot.h"
#include "snapshot/snapshot_parts.h"

namespace triage {

using nlohmann::json;
using snapshot_detail::decode_utf8;

std::string terminal_safe(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  auto escape_bytes = [&](size_t pos, size_t length) {
    for (size_t i = pos; i < pos + length; ++i) out += fmt::format("\\x{:02x}", static_cast<unsigned char>(text[i]));
  };
  for (size_t pos = 0; pos < text.size();) {
    auto c = decode_utf8(text, pos);
    if (!c) {
      escape_bytes(pos, 1);
      ++pos;
      continue;
    }
    char32_t cp = c->codepoint;
    bool control = cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp <= 0x9f);
    bool bidi_override = (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069);
    if (control)
      escape_bytes(pos, c->length);
    else if (bidi_override)
      out += '?';
    else
      out.append(text.substr(pos, c->length));
    pos += c->length;
  }
  return out;
}

namespace {

// ---- tolerant accessors (with core/json_fields.h): a missing key, a null or a wrong type all
// read as "absent" -----------------------------------------------------------------------------

std::optional<double> number(const json &object, const char *key) {
  const json &value = at(object, key);
  if (!value.is_number()) return std::nullopt;
  return value.get<double>();
}

std::string text(const json &object, const char *key) {
  const json &value = at(object, key);
  return value.is_string() ? terminal_safe(value.get_ref<const std::string &>()) : std::string("-");
}

std::string integer(std::optional<double> value) {
  return value ? fmt::format("{}", static_cast<int64_t>(*value)) : std::string("-");
}
std::string integer(const json &object, const char *key) { return integer(number(object, key)); }

std::string percent(std::optional<double> value) {
  return value ? fmt::format("{:.1f}", *value) : std::string("-");
}

// df -h style: 1K blocks to K/M/G/T with one decimal below 10.
std::string human_kb(std::optional<double> kb) {
  if (!kb) return "-";
  const char *units[] = {"K", "M", "G", "T", "P"};
  double value = *kb;
  size_t unit = 0;
  while (value >= 1024 && unit + 1 < std::size(units)) value /= 1024, ++unit;
  return value < 10 && unit > 0 ? fmt::format("{:.1f}{}", value, units[unit]) : fmt::format("{:.0f}{}", value, units[unit]);
}

std::string human_count(std::optional<double> count) {
  if (!count) return "-";
  const char *units[] = {"", "K", "M", "G"};
  double value = *count;
  size_t unit = 0;
  while (value >= 1000 && unit + 1 < std::size(units)) value /= 1000, ++unit;
  return unit == 0 ? fmt::format("{:.0f}", value) : fmt::format("{:.1f}{}", value, units[unit]);
}

std::string duration(double seconds) {
  auto total = static_cast<int64_t>(seconds);
  int64_t days = total / 86400, hours = total / 3600 % 24, minutes = total / 60 % 60;
  return days > 0 ? fmt::format("{}d {:02}:{:02}", days, hours, minutes) : fmt::format("{:02}:{:02}", hours, minutes);
}

}  // namespace

std::string elapsed_text(double seconds) {
  if (!(seconds >= 0)) return "unknown";
  if (seconds < 10) return fmt::format("{:.1f}s", seconds);
  auto total = static_cast<int64_t>(std::min(seconds, 1e15));
  if (total < 60) return fmt::format("{}s", total);
  if (total < 3600) return fmt::format("{}m{:02}s", total / 60, total % 60);
  if (total < 86400) return fmt::format("{}h{:02}m", total / 3600, total / 60 % 60);
  return fmt::format("{}d{:02}h", total / 86400, total / 3600 % 24);
}

namespace {

void section(std::string &out, std::string_view title) { out += fmt::format("\n== {}\n", title); }

// ---- sections -------------------------------------------------------------------------------

// PSI beside the load average: the load counts tasks, pressure says how much of the time they
// stalled. "cpu some 3.0%" = in 3 % of the last 10 s at least one task waited for a CPU.
void render_pressure(std::string &out, const json &s) {
  const json &pressure = at(s, "pressure");
  if (!pressure.is_object()) return;
  std::string parts;
  for (const char *resource : {"cpu", "io", "memory"}) {
    const json &r = at(pressure, resource);
    if (!r.is_object()) continue;
    for (const char *kind : {"some", "full"}) {
      const json &line = at(r, kind);
      // The machine-wide cpu "full" line exists since 5.13 and is always 0: noise.
      if (!line.is_object() || (std::string_view(resource) == "cpu" && std::string_view(kind) == "full")) continue;
      auto avg10 = number(line, "avg10"), avg60 = number(line, "avg60");
      parts += fmt::format("{}{} {} {:.1f}%/{:.1f}%", parts.empty() ? "" : ", ", resource, kind, avg10.value_or(0),
                           avg60.value_or(0));
    }
  }
  if (!parts.empty()) out += "pressure (PSI, avg10/avg60): " + parts + "\n";
}

void render_load(std::string &out, const json &s) {
  section(out, "uptime");
  auto ncpu = number(s, "ncpu");
  const json &load = at(s, "loadavg");
  std::string loads = "-";
  if (load.is_array() && load.size() == 3 && load[0].is_number())
    loads = fmt::format("{:.2f} {:.2f} {:.2f}", load[0].get<double>(), load[1].get<double>(), load[2].get<double>());
  auto uptime = number(s, "uptime_s");
  out += fmt::format("up {}, load average {} on {} CPUs", uptime ? duration(*uptime) : "-", loads, integer(ncpu));
  if (ncpu && *ncpu > 0 && load.is_array() && load.size() == 3 && load[0].is_number())
    out += fmt::format(" ({:.2f} per CPU over 1 min)", load[0].get<double>() / *ncpu);
  out += fmt::format("\nr {}  b {}   (runnable, blocked in D state)\n", integer(s, "procs_running"),
                     integer(s, "procs_blocked"));
  render_pressure(out, s);
}

void render_cpus(std::string &out, const json &s) {
  const json &cpus = arr(s, "cpus");
  if (cpus.empty()) return;
  section(out, "CPU % (mpstat -P ALL)");
  out += fmt::format("{:>4} {:>6} {:>6} {:>6} {:>6} {:>6}\n", "CPU", "%usr", "%sys", "%iowait", "%idle", "%steal");
  for (const auto &cpu : cpus)
    out += fmt::format("{:>4} {:>6} {:>6} {:>6} {:>6} {:>6}\n", integer(cpu, "cpu"), percent(number(cpu, "user")),
                       percent(number(cpu, "system")), percent(number(cpu, "iowait")), percent(number(cpu, "idle")),
                       percent(number(cpu, "steal")));
}

void render_memory(std::string &out, const json &s) {
  const json &mem = at(s, "mem");
  if (!mem.is_object()) return;
  section(out, "memory MB (free -m)");
  auto mb = [](std::optional<double> kb) { return kb ? fmt::format("{}", static_cast<int64_t>(*kb / 1024)) : "-"; };
  auto total = number(mem, "total_kb"), free = number(mem, "free_kb");
  auto buffers = number(mem, "buffers_kb"), cached = number(mem, "cached_kb");
  std::optional<double> used, buff_cache;
  if (buffers && cached) buff_cache = *buffers + *cached;
  if (total && free && buff_cache) used = *total - *free - *buff_cache;
  out += fmt::format("{:<6}{:>9}{:>9}{:>9}{:>12}{:>11}\n", "", "total", "used", "free", "buff/cache", "available");
  out += fmt::format("{:<6}{:>9}{:>9}{:>9}{:>12}{:>11}\n", "Mem:", mb(total), mb(used), mb(free), mb(buff_cache),
                     mb(number(mem, "available_kb")));
  auto swap_total = number(mem, "swap_total_kb"), swap_free = number(mem, "swap_free_kb");
  std::optional<double> swap_used;
  if (swap_total && swap_free) swap_used = *swap_total - *swap_free;
  out += fmt::format("{:<6}{:>9}{:>9}{:>9}   swapped in {} pages/s, out {} pages/s\n", "Swap:", mb(swap_total),
                     mb(swap_used), mb(swap_free), percent(number(mem, "swap_in_per_s")),
                     percent(number(mem, "swap_out_per_s")));
}

void render_filesystems(std::string &out, const json &s) {
  std::vector<const json *> shown;
  for (const auto &fs : arr(s, "filesystems"))
    if (number(fs, "size_kb").value_or(0) > 0) shown.push_back(&fs);
  if (shown.empty()) return;
  section(out, "filesystems (df -h, df -i)");
  out += fmt::format("{:<20} {:>6} {:>6} {:>5}  {:>6} {:>6} {:>5}  {}\n", "Filesystem", "Size", "Avail", "Use%",
                     "Inodes", "IFree", "IUse%", "Mounted on");
  for (const json *fs : shown)
    out += fmt::format("{:<20} {:>6} {:>6} {:>5}  {:>6} {:>6} {:>5}  {} ({})\n", text(*fs, "device"),
                       human_kb(number(*fs, "size_kb")), human_kb(number(*fs, "avail_kb")),
                       percent(number(*fs, "used_pct")), human_count(number(*fs, "inodes")),
                       human_count(number(*fs, "inodes_free")), percent(number(*fs, "inodes_used_pct")),
                       text(*fs, "mount"), text(*fs, "fstype"));
}

void render_deleted_files(std::string &out, const json &s) {
  const json &files = arr(s, "deleted_open_files");
  if (files.empty()) return;
  section(out, "deleted files still open (lsof +L1)");
  for (const auto &file : files)
    out += fmt::format("{:>8} {:<16} {:>7}  {}\n", integer(file, "pid"), text(file, "comm"),
                       human_kb(number(file, "size_kb")), text(file, "path"));
}

void render_tasks(std::string &out, const json &s) {
  const json &tasks = at(s, "tasks");
  if (!tasks.is_object()) return;
  section(out, "tasks (processes by state)");
  out += fmt::format("R {}  S {}  D {}  Z {}  T {}  I {}   total {}  threads {}  pid_max {}\n", integer(tasks, "R"),
                     integer(tasks, "S"), integer(tasks, "D"), integer(tasks, "Z"), integer(tasks, "T"),
                     integer(tasks, "I"), integer(tasks, "total"), integer(tasks, "threads"),
                     integer(tasks, "pid_max"));
  for (const auto &zombie : arr(tasks, "zombies"))
    out += fmt::format("zombie {} {} of parent {} {}\n", integer(zombie, "pid"), text(zombie, "comm"),
                       integer(zombie, "ppid"), text(zombie, "parent_comm"));
}

void render_sockets(std::string &out, const json &s) {
  const json &sockets = at(s, "sockets");
  if (!sockets.is_object()) return;
  section(out, "TCP sockets (ss -tan)");
  std::vector<std::string> states;
  const json &by_state = at(sockets, "states");
  if (by_state.is_object())
    for (const auto &[name, count] : by_state.items())
      if (count.is_number() && count.get<double>() > 0)
        states.push_back(fmt::format("{} {}", terminal_safe(name), count.get<int64_t>()));
  out += states.empty() ? "no TCP sockets\n" : fmt::format("{}\n", fmt::join(states, "  "));
  const json &ports = arr(sockets, "by_port");
  for (size_t i = 0; i < ports.size() && i < 10; ++i)
    out += fmt::format("  port {:>5} {:<12} {}\n", integer(ports[i], "port"), text(ports[i], "state"),
                       integer(ports[i], "count"));
  for (const auto &listener : arr(sockets, "listeners")) {
    auto queue = number(listener, "backlog"), max = number(listener, "backlog_max");
    std::string fill = queue && max && *max > 0 ? fmt::format(" ({:.0f}% full)", *queue * 100 / *max) : "";
    out += fmt::format("  listen {}:{} accept queue {}/{}{}\n", text(listener, "addr"), integer(listener, "port"),
                       integer(queue), integer(max), fill);
  }
}

// Whose counters these are: /proc/net shows the reader's own network namespace only.
std::string netstat_scope(const json &s) {
  auto netns = number(s, "netstat_netns");
  if (!netns) return "";
  const json &pid1 = at(s, "netstat_netns_is_pid1s");
  return fmt::format(", network namespace {} only (triage's own{})", integer(netns),
                     !pid1.is_boolean() ? ""
                     : pid1.get<bool>() ? ", PID 1's"
                                        : "; not PID 1's: the host's counters are not these");
}

// What the tcp family counted per namespace during the window, beside the since-boot numbers of
// one namespace above: retransmits in a container's namespace never show in the host's counters.
void render_netstat_during_window(std::string &out, const json &s, const char *const *shown, size_t shown_count) {
  const json &namespaces = at(s, "netstat_during_window");
  if (!namespaces.is_array()) return;
  if (namespaces.empty()) {
    out += "during the window (every network namespace, tcp family): none of these counters moved\n";
    return;
  }
  out += "during the window, per network namespace (tcp family):\n";
  for (const auto &ns : namespaces) {
    std::vector<std::string> moved;
    const json &counters = at(ns, "counters");
    for (size_t i = 0; i < shown_count; ++i)
      if (number(counters, shown[i]).value_or(0) > 0) moved.push_back(fmt::format("{} +{}", shown[i], integer(counters, shown[i])));
    if (moved.empty()) continue;
    std::string name = text(ns, "name");
    const json &own = at(ns, "this_namespace");
    out += fmt::format("  netns {}{}{}: {}\n", integer(ns, "netns"), name == "-" || name.empty() ? "" : " (" + name + ")",
                       own.is_boolean() && own.get<bool>() ? " (the one above)" : "", fmt::join(moved, ", "));
  }
}

void render_netstat(std::string &out, const json &s) {
  const json &counters = at(s, "netstat");
  if (!counters.is_object()) return;
  section(out, fmt::format("TCP counters since boot (netstat -s){}", netstat_scope(s)));
  static const char *const key_counters[] = {"TcpRetransSegs",    "TcpEstabResets",    "TcpOutRsts",         "ListenOverflows",
                                             "ListenDrops",       "SyncookiesSent",    "SyncookiesRecv",     "SyncookiesFailed",
                                             "TCPTimeouts",       "TCPSynRetrans",     "TCPAbortOnTimeout",  "TCPReqQFullDrop",
                                             "TCPReqQFullDoCookies"};
  std::vector<std::string> cells;
  for (const char *name : key_counters)
    if (number(counters, name)) cells.push_back(fmt::format("{:<21}{:>10}", name, integer(counters, name)));
  for (size_t i = 0; i < cells.size(); ++i) out += cells[i] + (i % 3 == 2 || i + 1 == cells.size() ? "\n" : "   ");
  render_netstat_during_window(out, s, key_counters, std::size(key_counters));
}

const char *syslog_level_name(std::optional<double> level) {
  static const char *names[] = {"emerg", "alert", "crit", "err", "warn", "notice", "info", "debug"};
  if (!level || *level < 0 || *level > 7) return "?";
  return names[static_cast<int>(*level)];
}

std::string kmsg_line(const json &line, std::string_view when) {
  auto time = number(line, "time");
  return fmt::format("[{:>12}] {:<6} {}{}\n", time ? fmt::format("{:.6f}", *time) : "-",
                     syslog_level_name(number(line, "level")), when, text(line, "text"));
}

// In a recorded report each line says whether it was logged inside the window (what happened
// then) or before it (history: an OOM kill three hours earlier is not this incident). A
// standalone snapshot has no window and lists them as dmesg does.
void render_kmsg(std::string &out, const json &s) {
  const json &lines = arr(s, "kmsg");
  if (lines.empty()) return;
  section(out, "kernel log: OOM kills, SYN floods, hung tasks (dmesg)");
  std::vector<const json *> before, inside;
  for (const auto &line : lines) {
    const json &in_window = at(line, "in_window");
    if (!in_window.is_boolean()) {
      out += kmsg_line(line, "");
      continue;
    }
    (in_window.get<bool>() || !number(line, "before_window_s") ? inside : before).push_back(&line);
  }
  if (inside.empty() && before.empty()) return;
  out += inside.empty() ? "inside the window: none\n" : "inside the window:\n";
  for (const json *line : inside) {
    auto after = number(*line, "after_window_s");
    out += kmsg_line(*line, after ? fmt::format("({} after the window) ", elapsed_text(*after)) : "");
  }
  if (before.empty()) return;
  out += fmt::format("before the window ({} lines, not part of it; the latest {} before it started):\n", before.size(),
                     elapsed_text(number(*before.back(), "before_window_s").value_or(0)));
  for (const json *line : before)
    out += kmsg_line(*line, fmt::format("({} before) ", elapsed_text(number(*line, "before_window_s").value_or(0))));
}

void render_skipped(std::string &out, const json &s) {
  const json &skipped = arr(s, "skipped");
  if (skipped.empty()) return;
  section(out, "not collected");
  for (const auto &entry : skipped) out += fmt::format("{}: {}\n", text(entry, "part"), text(entry, "reason"));
}

}  // namespace

std::string render_snapshot_text(const json &snapshot) {
  std::string out;
  try {
    render_load(out, snapshot);
    render_cpus(out, snapshot);
    render_memory(out, snapshot);
    render_filesystems(out, snapshot);
    render_deleted_files(out, snapshot);
    render_tasks(out, snapshot);
    render_sockets(out, snapshot);
    render_netstat(out, snapshot);
    render_kmsg(out, snapshot);
    render_skipped(out, snapshot);
  } catch (const std::exception &error) {
    out += fmt::format("\n(rendering stopped: {})\n", terminal_safe(error.what()));
  }
  return out.starts_with('\n') ? out.substr(1) : out;
}

}  // namespace triage

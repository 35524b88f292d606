#include "report/process_names.h"

#include <fmt/format.h>

#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <vector>

#include "families.h"

namespace triage {
namespace {

using json = nlohmann::json;

constexpr std::string_view kPairs[] = {"", "waker_", "victim_", "trigger_"};
constexpr double kUnknownTime = -std::numeric_limits<double>::infinity();

struct Sighting {
  double t;
  int rank;  // within a row, its prev_comm (0) came before its comm (1)
  std::string name;
  bool newer_than(const Sighting &other) const { return t > other.t || (t == other.t && rank > other.rank); }
};

struct Sightings {
  std::vector<Sighting> own;       // the name of the pid's own task
  std::vector<Sighting> borrowed;  // maybe the name of one of its threads
};

struct Resolved {
  std::string comm;
  std::optional<std::string> prev_comm;
};

// Whether a row's name is the task's own whose id the pid is. The scheduler names a process by its
// group leader; a record with `tgid` names the task `pid` itself; one with `tid` names the thread
// that submitted, which is the process's own only when it is the leader. An OOM victim is the
// process the kernel chose (for_each_process: its group leader), named at the kill, so its name
// is its own, and newer than any /proc read before it. A socket's owner and an OOM trigger are
// named by whichever thread was running.
bool own_name(std::string_view section, const json &row, std::string_view prefix) {
  if (prefix == "waker_" || prefix == "victim_") return true;
  if (!prefix.empty()) return false;
  if (row.contains("tgid")) return true;
  if (row.contains("tid")) return row["tid"] == row["pid"];
  return section == "sched";
}

double time_of(const json &row) {
  for (const char *key : {"t", "comm_t"}) {
    auto it = row.find(key);
    if (it != row.end() && it->is_number()) return it->get<double>();
  }
  return kUnknownTime;
}

// Calls fn(row, prefix) for every name pair under `node`.
template <class Fn>
void for_each_pair(json &node, Fn &&fn) {
  if (node.is_object()) {
    for (std::string_view prefix : kPairs) {
      auto pid = node.find(std::string(prefix) + "pid"), comm = node.find(std::string(prefix) + "comm");
      if (pid != node.end() && comm != node.end() && pid->is_number_integer() && comm->is_string() &&
          pid->get<int64_t>() > 0)
        fn(node, prefix);
    }
  }
  if (node.is_object() || node.is_array())
    for (auto &child : node) for_each_pair(child, fn);
}

// One name read two ways is not a rename: the kernel keeps 15 bytes of a task's name where BPF
// reads it, while /proc shows a kernel thread's whole name and a kworker's current workqueue
// ("kworker/1:2-mm_percpu_wq").
bool same_name(std::string_view a, std::string_view b) { return a.starts_with(b) || b.starts_with(a); }

// The newest of `from`, or of its sightings with a known time; null when there is none.
const Sighting *newest_of(const std::vector<Sighting> &from, bool timed_only) {
  const Sighting *newest = nullptr;
  for (const auto &s : from)
    if ((!timed_only || s.t != kUnknownTime) && (!newest || s.newer_than(*newest))) newest = &s;
  return newest;
}

// The process's own name at a known time first. Else a name a row of one of its threads gave: a
// process renamed right after fork (prctl, exec) and gone before the first sample has its old
// name only in the scheduler's first event, and its new one in the rows of what it did after.
Resolved resolve(const Sightings &seen) {
  const Sighting *last = newest_of(seen.own, true);
  if (!last) last = newest_of(seen.borrowed, false);
  if (!last) last = newest_of(seen.own, false);
  Resolved out{last->name, std::nullopt};
  const Sighting *before = nullptr;
  for (const auto &s : seen.own)
    if (!same_name(s.name, last->name) && (!before || s.newer_than(*before))) before = &s;
  if (before) out.prev_comm = before->name;
  return out;
}

}  // namespace

void resolve_process_names(json &report) {
  std::map<uint64_t, Sightings> seen;
  for (const auto &family : all_families()) {
    const char *section = family.name;
    if (!report.contains(section)) continue;
    // Rows that copy another section's name are no sighting of their own: block's D-state ties
    // repeat the scheduler's rows, and counting them twice let the scheduler's first-event name
    // (a child's before it renamed itself) outvote the name block saw it submit I/O under.
    json sightings = report[section];
    if (sightings.is_object())
      for (const char *copied : {"dstate_devices", "dstate_unmatched"}) sightings.erase(copied);
    for_each_pair(sightings, [&](const json &row, std::string_view prefix) {
      const std::string p(prefix);
      Sightings &s = seen[row[p + "pid"].get<uint64_t>()];
      auto &into = own_name(section, row, prefix) ? s.own : s.borrowed;
      into.push_back({time_of(row), 1, row[p + "comm"].get<std::string>()});
      auto prev = row.find(p + "prev_comm");
      if (prev != row.end() && prev->is_string() && !prev->get<std::string>().empty())
        into.push_back({kUnknownTime, 0, prev->get<std::string>()});
    });
  }
  std::map<uint64_t, Resolved> names;
  for (const auto &[pid, s] : seen) names.emplace(pid, resolve(s));
  for (const auto &family : all_families()) {
    const char *section = family.name;
    if (!report.contains(section)) continue;
    for_each_pair(report[section], [&](json &row, std::string_view prefix) {
      const std::string p(prefix);
      const Resolved &name = names.at(row[p + "pid"].get<uint64_t>());
      row[p + "comm"] = name.comm;
      if (name.prev_comm) row[p + "prev_comm"] = *name.prev_comm;
      else row.erase(p + "prev_comm");
      row.erase("comm_t");  // the time of a name the row may no longer hold
    });
  }
}

std::string process_label(const json &row, std::string_view prefix) {
  const std::string p(prefix);
  std::string comm = row.value(p + "comm", "");
  std::string prev = row.value(p + "prev_comm", "");
  return prev.empty() ? comm : fmt::format("{} (was {})", comm, prev);
}

}  // namespace triage

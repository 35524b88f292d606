#include "report/snapshot_window.h"

#include "snapshot/snapshot_parts.h"

namespace triage {
namespace {

using nlohmann::json;

// The kernel stamps its log with local_clock(), CLOCK_MONOTONIC's unadjusted sibling: the two
// drift apart by parts per million, so a line within a second of either edge may sit on the
// other side of it. Lines hours old, the ones that mislead, are placed right.
void place_kmsg_lines(json &snapshot, double start_s, double end_s) {
  if (!snapshot.is_object() || !snapshot.contains("kmsg") || !snapshot["kmsg"].is_array()) return;
  for (auto &line : snapshot["kmsg"]) {
    if (!line.is_object() || !line.contains("time") || !line["time"].is_number()) continue;
    double t = line["time"].get<double>();
    line["in_window"] = t >= start_s && t <= end_s;
    line["before_window_s"] = t < start_s ? json(snapshot_detail::round_tenth(start_s - t)) : json(nullptr);
    line["after_window_s"] = t > end_s ? json(snapshot_detail::round_tenth(t - end_s)) : json(nullptr);
  }
}

// The tcp family's per-namespace deltas (tcp.netstat), not collected again: the checklist only
// points at them beside its own since-boot numbers.
json netstat_during_window(const json &report, const json &snapshot) {
  const json &tcp = report.contains("tcp") ? report["tcp"] : json();
  if (!tcp.is_object() || !tcp.contains("netstat") || !tcp["netstat"].is_array()) return nullptr;
  const json &own = snapshot.contains("netstat_netns") ? snapshot["netstat_netns"] : json();
  json rows = json::array();
  for (const auto &ns : tcp["netstat"]) {
    if (!ns.is_object() || !ns.contains("delta") || !ns["delta"].is_object() || ns["delta"].empty()) continue;
    rows.push_back({{"netns", ns.value("netns", json())},
                    {"name", ns.value("name", "")},
                    {"this_namespace", own.is_number() && ns.value("netns", json()) == own},
                    {"counters", ns["delta"]}});
  }
  return rows;
}

}  // namespace

void place_snapshots_in_window(json &report, uint64_t window_start_ns, uint64_t window_end_ns) {
  if (!report.is_object() || !report.contains("snapshot") || !report["snapshot"].is_object()) return;
  json &snapshots = report["snapshot"];
  double start_s = static_cast<double>(window_start_ns) / 1e9, end_s = static_cast<double>(window_end_ns) / 1e9;
  for (const char *which : {"start", "end"})
    if (snapshots.contains(which)) place_kmsg_lines(snapshots[which], start_s, end_s);
  if (snapshots.contains("end") && snapshots["end"].is_object())
    snapshots["end"]["netstat_during_window"] = netstat_during_window(report, snapshots["end"]);
}

}  // namespace triage

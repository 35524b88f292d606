// What every family's loader does the same way: pick the first hook set the kernel accepts (or
// only the one --force-hook names), and hand the -p / --cgroup filter to the BPF side.
#pragma once

#include <span>
#include <string>
#include <vector>

#include <fmt/format.h>

#include <bpf/libbpf.h>

#include <cerrno>
#include <cstring>

#include "core/bpf_maps.h"
#include "core/bpf_raii.h"
#include "core/family.h"
#include "core/result.h"

namespace triage {

// The method --force-hook FAMILY=METHOD asks for, or empty.
inline std::string forced_method(const std::vector<std::string> &forced_hooks, const std::string &family) {
  std::string prefix = family + "=";
  std::string method;
  for (const auto &forced : forced_hooks)
    if (forced.rfind(prefix, 0) == 0) method = forced.substr(prefix.size());
  return method;
}

// Tries the hook sets in order with load(set) -> Result<void>; returns the first that loads, or
// nullptr with every set's reason in `reasons`. HookSet needs a `const char *method`.
template <typename HookSet, typename Load>
const HookSet *load_first_hook_set(std::span<const HookSet> sets, const std::string &family,
                                   const std::vector<std::string> &forced_hooks, Load &&load, std::string &reasons) {
  std::string forced = forced_method(forced_hooks, family);
  for (const HookSet &set : sets) {
    if (!forced.empty() && forced != set.method) continue;
    Result<void> loaded = load(set);
    if (loaded) return &set;
    reasons += fmt::format("{}{}: {}", reasons.empty() ? "" : "; ", set.method, loaded.error().message);
  }
  if (reasons.empty()) reasons = fmt::format("no {} hook set is called '{}' (--force-hook)", family, forced);
  return nullptr;
}

// Fills the rodata that bpf/common/filter.bpf.h declares.
template <typename Rodata>
void set_filter_rodata(Rodata *rodata, const RecordOptions &options) {
  rodata->filter_tgid = options.pid;
  rodata->filter_cgroup_id = options.cgroup_id;
  rodata->filter_cgroup_subsys = options.cgroup_subsys;
}

// Attaches one program unless --no-probe names it, and records how that went in `probes`
// (`probe` carries name, family, hook and method; its status and reason are filled here).
inline bool attach_probe(bpf_program *prog, ProbeStatus probe, const RecordOptions &options,
                         const std::string &attached_reason, std::vector<UniqueLink> &links,
                         std::vector<ProbeStatus> &probes) {
  if (contains(options.disabled_probes, probe.name)) {
    probe.status = "skipped";
    probe.reason = "disabled by --no-probe";
  } else if (UniqueLink link(bpf_program__attach(prog)); !link) {
    probe.status = "failed";
    probe.reason = fmt::format("attach failed: {}", std::strerror(errno));
  } else {
    links.push_back(std::move(link));
    probe.status = "attached";
    probe.reason = attached_reason;
  }
  probes.push_back(probe);
  return probe.status == "attached";
}

}  // namespace triage

// One probe of a family, declared once: the BPF object owner (core/bpf_object.h) loads and
// attaches from these rows, `triage probes` lists them, and a report explains a missing probe
// with `hides`. A family's table is its whole answer to "what can this family see, through what".
#pragma once

#include <span>
#include <string_view>

namespace triage {

// The hook sets a family can load with, in order of preference. tp_btf reads the tracepoint's
// typed arguments (BTF); raw_tp reads the same arguments untyped and works where tp_btf does not.
inline constexpr const char *kHookMethods[] = {"tp_btf", "raw_tp"};

struct ProbeSpec {
  const char *name;  // what --no-probe, `triage probes` and the report call it
  const char *hook;  // the kernel hook, as a reader of the report knows it
  // The tracepoint the programs need: where this kernel lacks it, the probe alone is left out
  // (one missing tracepoint would otherwise fail the whole object's load). nullptr: none.
  const char *tracepoint;
  // The BPF programs that implement the probe, by hook set; nullptr: that set does without it
  // (it is then not listed at all, so that a count of probes not attached counts what is missing).
  // Both nullptr: the probe needs no BPF, and its family attaches it by itself.
  const char *tp_btf_program;
  const char *raw_tp_program;
  const char *hides;      // what the report loses when the probe is missing
  bool run_once = false;  // an iterator run once while attaching (method "iter"), not a link kept
};

using ProbeTable = std::span<const ProbeSpec>;

inline const char *program_for(const ProbeSpec &probe, std::string_view method) {
  return method == "tp_btf" ? probe.tp_btf_program : method == "raw_tp" ? probe.raw_tp_program : nullptr;
}

inline const ProbeSpec *find_probe(ProbeTable table, std::string_view name) {
  for (const auto &probe : table)
    if (name == probe.name) return &probe;
  return nullptr;
}

}  // namespace triage

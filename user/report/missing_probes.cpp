#include "report/missing_probes.h"

#include <fmt/format.h>

#include "families.h"

namespace triage {

std::string what_missing_probe_hides(const std::string &probe, const std::string &family) {
  if (const FamilyEntry *entry = find_family(family))
    if (const ProbeSpec *spec = find_probe(entry->probes(), probe)) return spec->hides;
  return fmt::format("what the {} family would have seen through {}", family, probe);
}

}  // namespace triage

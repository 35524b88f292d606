#include "families.h"

#include "sched/sched_family.h"
#include "sched/sched_report.h"

namespace triage {

const std::vector<FamilyEntry> &all_families() {
  static const std::vector<FamilyEntry> families = {
      {"sched", sched::make_sched_family, sched::build_section, sched::render_text, sched::add_findings},
  };
  return families;
}

const FamilyEntry *find_family(const std::string &name) {
  for (const auto &f : all_families())
    if (name == f.name) return &f;
  return nullptr;
}

}  // namespace triage

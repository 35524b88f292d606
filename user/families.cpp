#include "families.h"

#include "block/block_family.h"
#include "block/block_report.h"
#include "oom/oom_family.h"
#include "oom/oom_report.h"
#include "sched/sched_family.h"
#include "sched/sched_report.h"
#include "tcp/tcp_family.h"
#include "tcp/tcp_report.h"

namespace triage {

const std::vector<FamilyEntry> &all_families() {
  static const std::vector<FamilyEntry> families = {
      {"sched", sched::make_sched_family, sched::probe_table, sched::build_section, sched::render_text, sched::render_html, "Scheduler",
       sched::add_findings},
      {"block", block::make_block_family, block::probe_table, block::build_section, block::render_text, block::render_html, "Block",
       block::add_findings},
      {"tcp", tcp::make_tcp_family, tcp::probe_table, tcp::build_section, tcp::render_text, tcp::render_html, "TCP", tcp::add_findings},
      {"oom", oom::make_oom_family, oom::probe_table, oom::build_section, oom::render_text, oom::render_html, "OOM", oom::add_findings},
  };
  return families;
}

const FamilyEntry *find_family(const std::string &name) {
  for (const auto &f : all_families())
    if (name == f.name) return &f;
  return nullptr;
}

std::string family_name_list() {
  std::string list;
  for (const auto &f : all_families()) list += (list.empty() ? "" : ",") + std::string(f.name);
  return list;
}

}  // namespace triage

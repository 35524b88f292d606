// The probe families triage knows, in report order. Adding a family = one row in families.cpp
// plus its own bpf/<family>/ and user/<family>/ directories. Nothing else names the families:
// the command line, the report model and both renderers take them from here.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/family.h"
#include "core/probe_table.h"
#include "record/recording.h"

namespace triage {

struct FamilyEntry {
  const char *name;
  std::unique_ptr<Family> (*make)();
  // Its probes: what the loader attaches, `triage probes` lists and a report says is missing.
  ProbeTable (*probes)();
  // The report section (null when the family was not recorded), given the window's monotonic start.
  nlohmann::json (*build_section)(const RecordingReader &recording, uint64_t window_start_mono_ns);
  void (*render_text)(const nlohmann::json &section, std::string &out);
  // Its <section id="name"> of the HTML page, "not recorded" included. It takes the whole report,
  // not its section: a chart needs the window, and sched's load chart shows findings and OOM kills.
  void (*render_html)(const nlohmann::json &report, std::string &out);
  const char *html_nav_label;  // the page's link to that section
  // Appends this family's findings; sees the whole report (other sections, snapshots).
  void (*add_findings)(const nlohmann::json &report, nlohmann::json &findings);
};

const std::vector<FamilyEntry> &all_families();
const FamilyEntry *find_family(const std::string &name);
// "sched,block,tcp,oom": every name, in report order, as --probes takes them.
std::string family_name_list();

}  // namespace triage

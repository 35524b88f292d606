// The oom family: who did the OOM killer kill, in which memory cgroup, and who was allocating?
#pragma once

#include <memory>

#include "core/family.h"
#include "core/probe_table.h"

namespace triage::oom {

std::unique_ptr<Family> make_oom_family();
// Every probe of the family, as the loader attaches them and the report explains them.
ProbeTable probe_table();

}  // namespace triage::oom

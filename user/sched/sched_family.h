// The sched family: is the load tasks waiting for a CPU (R) or stuck in D?
#pragma once

#include <memory>

#include "core/family.h"
#include "core/probe_table.h"

namespace triage::sched {

std::unique_ptr<Family> make_sched_family();
// Every probe of the family, as the loader attaches them and the report explains them.
ProbeTable probe_table();

}  // namespace triage::sched

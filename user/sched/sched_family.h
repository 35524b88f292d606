// The sched family: is the load tasks waiting for a CPU (R) or stuck in D?
#pragma once

#include <memory>

#include "core/family.h"

namespace triage::sched {

std::unique_ptr<Family> make_sched_family();

}  // namespace triage::sched

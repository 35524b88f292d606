// The oom family: who did the OOM killer kill, in which memory cgroup, and who was allocating?
#pragma once

#include <memory>

#include "core/family.h"

namespace triage::oom {

std::unique_ptr<Family> make_oom_family();

}  // namespace triage::oom

// The tcp family: connection states, who closes first, CLOSE_WAIT leaks, TIME_WAIT churn,
// retransmits and listen-queue overflows.
#pragma once

#include <memory>

#include "core/family.h"

namespace triage::tcp {

std::unique_ptr<Family> make_tcp_family();

}  // namespace triage::tcp

// The tcp family: connection states, who closes first, CLOSE_WAIT leaks, TIME_WAIT churn,
// retransmits and listen-queue overflows.
#pragma once

#include <memory>

#include "core/family.h"
#include "core/probe_table.h"

namespace triage::tcp {

std::unique_ptr<Family> make_tcp_family();
// Every probe of the family, as the loader attaches them and the report explains them.
ProbeTable probe_table();

}  // namespace triage::tcp

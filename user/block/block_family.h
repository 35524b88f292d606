// The block family: which disk, how slow, and whose I/O was it?
#pragma once

#include <memory>

#include "core/family.h"
#include "core/probe_table.h"

namespace triage::block {

std::unique_ptr<Family> make_block_family();
// Every probe of the family, as the loader attaches them and the report explains them.
ProbeTable probe_table();

}  // namespace triage::block

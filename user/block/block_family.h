// The block family: which disk, how slow, and whose I/O was it?
#pragma once

#include <memory>

#include "core/family.h"

namespace triage::block {

std::unique_ptr<Family> make_block_family();

}  // namespace triage::block

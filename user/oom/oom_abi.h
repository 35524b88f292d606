// The oom family's shared structs as C++ sees them, with their layout pinned: a change on one
// side that the other does not follow fails to compile instead of misreading the events.
#pragma once

#include <linux/types.h>

#include <cstddef>

#include "oom/oom.h"

static_assert(sizeof(oom_counters) == 16);
static_assert(offsetof(oom_event, victim_pid) == 72);
static_assert(offsetof(oom_event, oom_score_adj) == 92);
static_assert(offsetof(oom_event, victim_comm) == 104 && offsetof(oom_event, trigger_comm) == 120);
static_assert(offsetof(oom_event, memcg_path) == 136);
static_assert(sizeof(oom_event) == 136 + OOM_MEMCG_DEPTH * OOM_MEMCG_NAME_LEN);

// The block family's shared structs as C++ sees them, with their layout pinned: a change on one
// side that the other does not follow fails to compile instead of misreading the maps.
#pragma once

#include <linux/types.h>

#include <cstddef>

#include "block/block.h"

static_assert(sizeof(triage_log2_hist) == 8 * (TRIAGE_HIST_SLOTS + 4));
static_assert(sizeof(block_stats_key) == 8);
static_assert(sizeof(block_stats) == 16 + 3 * sizeof(triage_log2_hist));
static_assert(offsetof(block_stats, latency) == 16);
static_assert(offsetof(block_stats, queue_latency) == 16 + sizeof(triage_log2_hist));
static_assert(offsetof(block_stats, size) == 16 + 2 * sizeof(triage_log2_hist));
static_assert(sizeof(block_proc_key) == 8);
static_assert(sizeof(block_proc_stats) == 40 && offsetof(block_proc_stats, comm) == 24);
static_assert(sizeof(block_proc_cache_entry) == 48 && offsetof(block_proc_cache_entry, stats) == 8);
static_assert(sizeof(block_proc_cache) == 48 * BLOCK_PROC_CACHE_SLOTS);
static_assert(sizeof(block_cpu_counters) == 8 * 11);
static_assert(offsetof(block_cpu_counters, unissued_flushes) == 8 * 10);
static_assert(offsetof(block_cpu_counters, events_lost) == 8 * 9);
static_assert(sizeof(block_event) == 72);
static_assert(offsetof(block_event, bytes) == 32 && offsetof(block_event, comm) == 56);

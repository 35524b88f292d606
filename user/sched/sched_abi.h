// The sched family's shared structs as C++ sees them, with their layout pinned: a change on one
// side that the other does not follow fails to compile instead of misreading the maps.
#pragma once

#include <linux/types.h>

#include <cstddef>

#include "sched/sched.h"

static_assert(sizeof(triage_log2_hist) == 8 * (TRIAGE_HIST_SLOTS + 4));
static_assert(sizeof(sched_cpu_acc) == 8 * (3 * SCHED_WAIT_KINDS + 9));
static_assert(offsetof(sched_cpu_acc, closed_ns) == 8 * 2 * SCHED_WAIT_KINDS);
static_assert(offsetof(sched_cpu_acc, proc_map_full) == 8 * (3 * SCHED_WAIT_KINDS + 5));
static_assert(offsetof(sched_cpu_acc, exit_spans_closed) == 8 * (3 * SCHED_WAIT_KINDS + 7));
static_assert(sizeof(sched_span_transfer) == 128);
static_assert(offsetof(sched_span_transfer, closed_ns) == offsetof(sched_cpu_acc, closed_ns));
static_assert(sizeof(sched_hists) == SCHED_WAIT_KINDS * sizeof(triage_log2_hist));
static_assert(sizeof(sched_proc_stats) == 8 * 3 * SCHED_WAIT_KINDS + 8 + 16);
static_assert(sizeof(sched_cpu_running) == 64);
static_assert(sizeof(sched_proc_cache) == SCHED_PROC_CACHE_SLOTS * (8 + sizeof(sched_proc_stats)));
static_assert(sizeof(sched_event) == 72);
static_assert(offsetof(sched_event, end_ns) == 0);
static_assert(offsetof(sched_event, comm) == 40 && offsetof(sched_event, waker_comm) == 56);
static_assert(sizeof(sched_stack_sample) == 40 + 8 * SCHED_STACK_DEPTH);
static_assert(offsetof(sched_stack_sample, wait_ns) == 8 && offsetof(sched_stack_sample, comm) == 24);
static_assert(offsetof(sched_stack_sample, ips) == 40);

// The name under which sched_event records are stored in a recording's event_blocks; bump the
// version whenever struct sched_event changes.
inline constexpr const char *kSchedEventLayout = "sched_event/1";

// The name a wait kind has in recordings and reports.
inline const char *wait_kind_name(__u32 kind) {
  switch (kind) {
    case SCHED_WAIT_RUNQ: return "runq";
    case SCHED_WAIT_D_IO: return "d_io";
    case SCHED_WAIT_D_MEM: return "d_mem";
    default: return "d_other";
  }
}

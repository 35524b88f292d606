/* BPF-side helpers for log2 histograms and per-CPU counters. */
#ifndef TRIAGE_COMMON_BITS_BPF_H
#define TRIAGE_COMMON_BITS_BPF_H

#include "hist.h"

/* Bit length of v (0 for 0): branch-free enough for the verifier and a handful of instructions. */
static __always_inline __u32 bit_length(__u64 v)
{
	__u32 r = 0, shift;

	shift = (v > 0xFFFFFFFFULL) << 5; v >>= shift; r |= shift;
	shift = (v > 0xFFFF) << 4; v >>= shift; r |= shift;
	shift = (v > 0xFF) << 3; v >>= shift; r |= shift;
	shift = (v > 0xF) << 2; v >>= shift; r |= shift;
	shift = (v > 0x3) << 1; v >>= shift; r |= shift;
	r |= (v >> 1);
	return r + (v != 0 || r != 0);
}

/* Adds one value to a histogram that only this CPU writes (per-CPU map), so no atomics. */
static __always_inline void hist_add(struct triage_log2_hist *h, __u64 value)
{
	__u64 slot = bit_length(value);

	if (slot >= TRIAGE_HIST_SLOTS)
		slot = TRIAGE_HIST_SLOTS - 1;
	/* The compiler folds the clamp into a form the verifier cannot follow; hide the value from
	 * it and restate the bound as a mask the verifier keeps. */
	asm volatile("" : "+r"(slot));
	h->slots[slot & (TRIAGE_HIST_SLOTS - 1)]++;
	h->count++;
	h->sum += value;
	if (value > h->max)
		h->max = value;
	if (h->min_plus_one == 0 || value + 1 < h->min_plus_one)
		h->min_plus_one = value + 1;
}

#endif

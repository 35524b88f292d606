/* BPF-side helpers for log2 histograms and per-CPU counters. */
#ifndef TRIAGE_COMMON_BITS_BPF_H
#define TRIAGE_COMMON_BITS_BPF_H

#include "hist.h"

/* A kernel object's field, read with a plain load where the verifier knows the pointer's type
 * (tp_btf, iter) and through bpf_probe_read_kernel (CO-RE) where it does not (raw_tp). `typed` is
 * a constant at every call site, so each program keeps only its own branch. Needs
 * <bpf/bpf_core_read.h>. */
#define TYPED_FIELD(typed, ptr, field) ((typed) ? (ptr)->field : BPF_CORE_READ(ptr, field))

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

/* Submit flags that wake a ring buffer's consumer in batches, never per event. The consumer also
 * drains on its own timer (every 100 ms), so a trickle needs no wakeup at all; a storm wakes it
 * when the unconsumed data crosses a quarter and again half of the buffer, so it drains before
 * the buffer fills. Called after bpf_ringbuf_reserve: the available data already counts this
 * record (`stride` = its size plus the 8-byte record header, rounded to 8). A crossing missed
 * because another CPU reserved at the same moment is caught by the timer or the next crossing. */
static __always_inline __u64 ringbuf_batch_flags(void *ring, __u64 ring_size, __u64 record_size)
{
	__u64 stride = (record_size + 8 + 7) & ~7ULL;
	__u64 after = bpf_ringbuf_query(ring, BPF_RB_AVAIL_DATA);
	__u64 before = after > stride ? after - stride : 0;
	__u64 quarter = ring_size / 4, half = ring_size / 2;

	if ((before < quarter && after >= quarter) || (before < half && after >= half))
		return BPF_RB_FORCE_WAKEUP;
	return BPF_RB_NO_WAKEUP;
}

#endif

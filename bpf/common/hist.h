/* Log2 histogram shared by every family's BPF program and the C++ aggregators.
 * Slot k counts values whose bit length is k (slot 0: value 0; slot k: 2^(k-1) <= v < 2^k), so
 * every value in slot k is below 2^k: the report's `le` of slot k is 2^k in the histogram's unit. */
#ifndef TRIAGE_COMMON_HIST_H
#define TRIAGE_COMMON_HIST_H

#ifndef __VMLINUX_H__ /* userspace: the BPF side gets the types from vmlinux.h */
#include <linux/types.h>
#endif

#define TRIAGE_HIST_SLOTS 32

struct triage_log2_hist {
	__u64 slots[TRIAGE_HIST_SLOTS];
	__u64 count;
	__u64 sum;          /* in the unit the slots use (e.g. us) */
	__u64 max;
	__u64 min_plus_one; /* 0 = no value yet; per-CPU maps start zeroed */
};

#endif

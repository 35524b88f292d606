/* Structs the floor tracers (floor.bpf.c) and bench_floor.cpp both see. */
#ifndef TRIAGE_BENCH_FLOOR_H
#define TRIAGE_BENCH_FLOOR_H

#include "common/hist.h"

struct tcp_floor_hists {
	struct triage_log2_hist connect_us;  /* open -> ESTABLISHED */
	struct triage_log2_hist lifetime_us; /* ESTABLISHED (or the open) -> CLOSE */
};

/* bench_floor --state-lookups: what a lookup of the socket's own start time costs at each new
 * state, clock reads included. */
#define FLOOR_TCP_STATES 16
struct tcp_floor_lookup_cost {
	__u64 ns;
	__u64 count;
};

#endif

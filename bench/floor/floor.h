/* Structs the floor tracers (floor.bpf.c) and bench_floor.cpp both see. */
#ifndef TRIAGE_BENCH_FLOOR_H
#define TRIAGE_BENCH_FLOOR_H

#include "common/hist.h"

struct tcp_floor_hists {
	struct triage_log2_hist connect_us;  /* open -> ESTABLISHED */
	struct triage_log2_hist lifetime_us; /* ESTABLISHED (or the open) -> CLOSE */
};

#endif

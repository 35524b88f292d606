// SPDX-License-Identifier: GPL-2.0
/* The benchmark's floors. sched: the least a run-queue latency tracer can do on the same hooks that
 * triage's sched family uses. A wakeup (or a preemption) stamps the task, its switch-in turns the
 * stamp into one per-CPU log2 histogram entry. No per-process totals, no load integral, no D
 * state, no filter, no ring buffer: whatever triage costs above this buys those. The tcp and
 * block floors below do the same for connection lifetimes and I/O latency. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "common/bits.bpf.h"
#include "floor.h"

char LICENSE[] SEC("license") = "GPL";

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, __u64); /* bpf_ktime_get_ns() when the task became runnable, 0 when running */
} queued_at SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct triage_log2_hist); /* run-queue waits in us */
} runq_hist SEC(".maps");

/* Kernels before 5.14 named the state field `state`. */
struct task_struct___pre514 {
	volatile long state;
} __attribute__((preserve_access_index));

static __always_inline void stamp(struct task_struct *task)
{
	__u64 *ts = bpf_task_storage_get(&queued_at, task, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);

	if (ts)
		*ts = bpf_ktime_get_ns();
}

static __always_inline bool still_runnable(struct task_struct *task)
{
	if (bpf_core_field_exists(task->__state))
		return task->__state == 0;
	return BPF_CORE_READ((struct task_struct___pre514 *)task, state) == 0;
}

SEC("tp_btf/sched_wakeup")
int BPF_PROG(floor_wakeup, struct task_struct *p)
{
	stamp(p);
	return 0;
}

SEC("tp_btf/sched_wakeup_new")
int BPF_PROG(floor_wakeup_new, struct task_struct *p)
{
	stamp(p);
	return 0;
}

SEC("tp_btf/sched_switch")
int BPF_PROG(floor_switch, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	struct triage_log2_hist *h;
	__u32 zero = 0;
	__u64 *ts;

	if (still_runnable(prev))
		stamp(prev);
	ts = bpf_task_storage_get(&queued_at, next, 0, 0);
	if (!ts || !*ts)
		return 0;
	h = bpf_map_lookup_elem(&runq_hist, &zero);
	if (h)
		hist_add(h, (bpf_ktime_get_ns() - *ts) / 1000);
	*ts = 0;
	return 0;
}

/* ---- tcp ---- */

#define IPPROTO_TCP 6
#define TCP_ESTABLISHED 1
#define TCP_SYN_SENT 2
#define TCP_SYN_RECV 3
#define TCP_CLOSE 7

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64);   /* the struct sock pointer */
	__type(value, __u64); /* open time, then ESTABLISHED time */
} conn_start SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct tcp_floor_hists);
} tcp_hist SEC(".maps");

/* bench_floor --state-lookups: time a lookup of the socket's entry at every transition (the floor
 * itself looks only at ESTABLISHED and CLOSE). A cost probe, never part of a benchmark row: where
 * a tracer that keeps state per socket pays, and why triage's run costs more than this floor's. */
const volatile bool time_state_lookups = false;

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, FLOOR_TCP_STATES);
	__type(key, __u32);
	__type(value, struct tcp_floor_lookup_cost);
} lookup_cost SEC(".maps");

static __always_inline void time_lookup(__u64 key, int newstate)
{
	__u32 slot = newstate & (FLOOR_TCP_STATES - 1);
	struct tcp_floor_lookup_cost *cost = bpf_map_lookup_elem(&lookup_cost, &slot);
	__u64 before = bpf_ktime_get_ns();
	__u64 *start = bpf_map_lookup_elem(&conn_start, &key);
	/* Read the value too, as a tracer would. */
	__u64 after = bpf_ktime_get_ns() + (start ? (*(volatile __u64 *)start & 0) : 0);

	if (cost) {
		cost->ns += after - before;
		cost->count++;
	}
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(floor_tcp_state, const struct sock *sk, int oldstate, int newstate)
{
	struct tcp_floor_hists *h;
	__u64 key = (__u64)sk, now, *start;
	__u32 zero = 0;

	if (BPF_CORE_READ_BITFIELD(sk, sk_protocol) != IPPROTO_TCP)
		return 0;
	now = bpf_ktime_get_ns();
	if (newstate == TCP_SYN_SENT || newstate == TCP_SYN_RECV) {
		bpf_map_update_elem(&conn_start, &key, &now, BPF_ANY);
		return 0;
	}
	if (time_state_lookups)
		time_lookup(key, newstate);
	if (newstate != TCP_ESTABLISHED && newstate != TCP_CLOSE)
		return 0;
	start = bpf_map_lookup_elem(&conn_start, &key);
	if (!start)
		return 0;
	h = bpf_map_lookup_elem(&tcp_hist, &zero);
	if (newstate == TCP_ESTABLISHED) {
		if (h && oldstate == TCP_SYN_SENT)
			hist_add(&h->connect_us, (now - *start) / 1000);
		*start = now;
		return 0;
	}
	if (h)
		hist_add(&h->lifetime_us, (now - *start) / 1000);
	bpf_map_delete_elem(&conn_start, &key);
	return 0;
}

/* ---- block ---- */

/* The least an I/O latency tracer does on triage's block hooks: the issue stamps the request in a
 * hash keyed by its address, the completion turns the stamp into one per-CPU log2 histogram entry
 * and frees it. One histogram for all devices and operations, no queue time, no sizes, no
 * per-process totals, no outliers. Kernels since 5.11 (block_rq_issue without the queue argument).
 *
 * bench_floor --block --empty attaches empty programs on the same two hooks instead: what merely
 * running a BPF program at each request costs, below which no tracer on these hooks can go. */
const volatile bool block_hooks_only = false;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);   /* the struct request pointer */
	__type(value, __u64); /* issue time */
} issued_at SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct triage_log2_hist); /* issue -> complete in us */
} block_hist SEC(".maps");

/* With --empty: the completions seen, so a run that measured nothing shows. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} block_hook_runs SEC(".maps");

SEC("tp_btf/block_rq_issue")
int BPF_PROG(floor_block_issue, struct request *rq)
{
	__u64 key = (__u64)rq, now;

	if (block_hooks_only)
		return 0;
	now = bpf_ktime_get_ns();
	bpf_map_update_elem(&issued_at, &key, &now, BPF_ANY);
	return 0;
}

SEC("tp_btf/block_rq_complete")
int BPF_PROG(floor_block_complete, struct request *rq, int error, unsigned int nr_bytes)
{
	struct triage_log2_hist *h;
	__u64 key = (__u64)rq, *issued;
	__u32 zero = 0;

	if (block_hooks_only) {
		__u64 *runs = bpf_map_lookup_elem(&block_hook_runs, &zero);

		if (runs)
			(*runs)++;
		return 0;
	}
	issued = bpf_map_lookup_elem(&issued_at, &key);
	if (!issued)
		return 0;
	h = bpf_map_lookup_elem(&block_hist, &zero);
	if (h)
		hist_add(h, (bpf_ktime_get_ns() - *issued) / 1000);
	bpf_map_delete_elem(&issued_at, &key);
	return 0;
}

// SPDX-License-Identifier: GPL-2.0
/* The benchmark's floor: the least a run-queue latency tracer can do on the same hooks that
 * triage's sched family uses. A wakeup (or a preemption) stamps the task, its switch-in turns the
 * stamp into one per-CPU log2 histogram entry. No per-process totals, no load integral, no D
 * state, no filter, no ring buffer: whatever triage costs above this buys those. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "common/bits.bpf.h"

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

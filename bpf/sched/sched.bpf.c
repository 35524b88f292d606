// SPDX-License-Identifier: GPL-2.0
/* The sched family: run-queue latency, D-state time and the load decomposition.
 *
 * One state machine per task (running, queued, blocked in D, sleeping) driven by three events:
 * sched_switch (switch-out opens a run-queue span when the task was preempted, a D span when it
 * sleeps uninterruptibly; switch-in closes a run-queue span), sched_wakeup and sched_wakeup_new
 * (close a D span, open a run-queue span). Closed spans feed per-CPU histograms, per-process
 * totals and, above the outlier threshold, the ring buffer; open and closed spans both feed the
 * additive per-CPU accumulators from which userspace integrates the load (see sched.h).
 *
 * Every handler exists twice: a tp_btf program (typed arguments, task storage) and a raw_tp twin
 * (a bounded hash map keyed by pid) for kernels whose verifier or BTF refuse the first set.
 * Userspace loads one set, chosen by trying the kernel.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "common/bits.bpf.h"
#include "common/filter.bpf.h"
#include "sched/sched.h"

#define E2BIG 7 /* errno: the map is full */

char LICENSE[] SEC("license") = "GPL";

/* Set by the loader before load; constant for the verifier, so unused branches are pruned. */
const volatile __u64 base_ns = 0;            /* CLOCK_MONOTONIC at open: span times are relative */
const volatile __u64 outlier_threshold_ns = 10 * 1000 * 1000;
const volatile bool switch_has_prev_state = true; /* 5.18+: sched_switch passes prev_state */

struct task_sched_state {
	__u64 since_ns; /* start of the open span, ns since base_ns */
	__u8 phase;     /* enum sched_task_phase */
	__u8 kind;      /* enum sched_wait_kind of the open span */
	__u8 verdict;   /* filter: 0 not decided, 1 traced, 2 filtered out */
	__u8 pad[5];
};

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct task_sched_state);
} task_states SEC(".maps");

/* raw_tp twin's per-task state: bounded; a full map is counted, never silently ignored. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, __u32);
	__type(value, struct task_sched_state);
} task_states_by_pid SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sched_cpu_acc);
} cpu_acc SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sched_hists);
} hists SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, struct sched_proc_stats);
} proc_stats SEC(".maps");

#define SCHED_RING_BYTES (4 << 20) /* ~50k records: rides out a consumer that waits 250 ms for a CPU at 200k events/s */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, SCHED_RING_BYTES);
} events SEC(".maps");

/* Kernels before 5.14 named the state field `state`. */
struct task_struct___pre514 {
	volatile long state;
} __attribute__((preserve_access_index));

/* A task field, read directly where the verifier knows the pointer's type (tp_btf, iter: a plain
 * load) and through bpf_probe_read_kernel where it does not (raw_tp). `by_pid` is a constant at
 * every call site, so each program keeps only its own branch. */
#define TASK_FIELD(by_pid, task, field) ((by_pid) ? BPF_CORE_READ(task, field) : (task)->field)

static __always_inline __u64 now_since_base(void)
{
	return bpf_ktime_get_ns() - base_ns;
}

static __always_inline struct sched_cpu_acc *this_cpu_acc(void)
{
	__u32 zero = 0;
	return bpf_map_lookup_elem(&cpu_acc, &zero);
}

/* Filters apply to the task that waits, decided once per task and cached in its state. */
static __always_inline bool task_traced(struct task_struct *task, struct task_sched_state *st)
{
	if (!filter_active())
		return true;
	if (st->verdict == 0)
		st->verdict = task_matches_filter(task) ? 1 : 2;
	return st->verdict == 1;
}

static __always_inline struct task_sched_state *task_state(struct task_struct *task, bool by_pid)
{
	struct task_sched_state *st;

	if (!by_pid) {
		st = bpf_task_storage_get(&task_states, task, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	} else {
		__u32 pid = TASK_FIELD(by_pid, task, pid);
		st = bpf_map_lookup_elem(&task_states_by_pid, &pid);
		if (!st) {
			struct task_sched_state fresh = {};
			bpf_map_update_elem(&task_states_by_pid, &pid, &fresh, BPF_NOEXIST);
			st = bpf_map_lookup_elem(&task_states_by_pid, &pid);
		}
	}
	if (!st) {
		struct sched_cpu_acc *acc = this_cpu_acc();
		if (acc)
			acc->task_state_missing++;
	}
	return st;
}

static __always_inline void forget_task(struct task_struct *task, bool by_pid)
{
	if (!by_pid) {
		bpf_task_storage_delete(&task_states, task);
	} else {
		__u32 pid = BPF_CORE_READ(task, pid);
		bpf_map_delete_elem(&task_states_by_pid, &pid);
	}
}

static __always_inline void open_span(struct sched_cpu_acc *acc, struct task_sched_state *st,
				      __u8 phase, __u32 kind, __u64 now)
{
	kind &= SCHED_WAIT_KINDS - 1;
	acc->open[kind]++;
	acc->open_start_sum[kind] += now;
	st->phase = phase;
	st->kind = kind;
	st->since_ns = now;
}

static __always_inline void account_process(struct task_struct *task, __u32 kind, __u64 wait_ns,
					    struct sched_cpu_acc *acc, bool by_pid)
{
	__u32 tgid = TASK_FIELD(by_pid, task, tgid);
	struct sched_proc_stats *ps = bpf_map_lookup_elem(&proc_stats, &tgid);

	if (!ps) {
		struct sched_proc_stats fresh = {};
		BPF_CORE_READ_STR_INTO(&fresh.comm, task, group_leader, comm);
		if (bpf_map_update_elem(&proc_stats, &tgid, &fresh, BPF_NOEXIST) == -E2BIG) {
			acc->proc_map_full++;
			return;
		}
		ps = bpf_map_lookup_elem(&proc_stats, &tgid);
		if (!ps)
			return;
	}
	kind &= SCHED_WAIT_KINDS - 1;
	__sync_fetch_and_add(&ps->total_ns[kind], wait_ns);
	__sync_fetch_and_add(&ps->count[kind], 1);
	if (wait_ns > ps->max_ns[kind])
		ps->max_ns[kind] = wait_ns; /* a lost race only under-reports the max by one wait */
}

static __always_inline void emit_outlier(struct task_struct *task, __u32 kind, __u64 wait_ns,
					 __u64 now, struct task_struct *waker,
					 struct sched_cpu_acc *acc)
{
	struct sched_event *e;

	acc->events_produced++;
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		acc->events_lost++;
		return;
	}
	e->end_ns = now + base_ns;
	e->duration_ns = wait_ns;
	e->pid = BPF_CORE_READ(task, pid);
	e->tgid = BPF_CORE_READ(task, tgid);
	e->cpu = bpf_get_smp_processor_id();
	e->kind = kind;
	e->pad = 0;
	BPF_CORE_READ_STR_INTO(&e->comm, task, comm);
	if (waker) {
		e->waker_pid = BPF_CORE_READ(waker, pid);
		BPF_CORE_READ_STR_INTO(&e->waker_comm, waker, comm);
	} else {
		e->waker_pid = 0;
		e->waker_comm[0] = 0;
	}
	bpf_ringbuf_submit(e, ringbuf_batch_flags(&events, SCHED_RING_BYTES, sizeof(*e)));
}

/* Ends the task's open span at `now`: the wait enters the histograms and totals. */
static __always_inline void close_span(struct sched_cpu_acc *acc, struct task_struct *task,
				       struct task_sched_state *st, __u64 now,
				       struct task_struct *waker, bool by_pid)
{
	__u32 kind = st->kind & (SCHED_WAIT_KINDS - 1);
	__u64 start = st->since_ns;
	__u64 wait_ns = now > start ? now - start : 0;
	struct sched_hists *h;
	__u32 zero = 0;

	acc->open[kind]--;
	acc->open_start_sum[kind] -= start;
	acc->closed_ns[kind] += wait_ns;

	h = bpf_map_lookup_elem(&hists, &zero);
	if (h)
		hist_add(&h->by_kind[kind], wait_ns / 1000);
	account_process(task, kind, wait_ns, acc, by_pid);
	if (wait_ns >= outlier_threshold_ns)
		emit_outlier(task, kind, wait_ns, now, waker, acc);
}

static __always_inline __u32 d_state_kind(struct task_struct *task, bool by_pid)
{
	bool iowait = by_pid ? BPF_CORE_READ_BITFIELD_PROBED(task, in_iowait) : BPF_CORE_READ_BITFIELD(task, in_iowait);

	if (iowait)
		return SCHED_WAIT_D_IO;
	if (bpf_core_field_exists(task->in_memstall) &&
	    (by_pid ? BPF_CORE_READ_BITFIELD_PROBED(task, in_memstall) : BPF_CORE_READ_BITFIELD(task, in_memstall)))
		return SCHED_WAIT_D_MEM;
	return SCHED_WAIT_D_OTHER;
}

static __always_inline __u32 task_state_bits(struct task_struct *task)
{
	if (bpf_core_field_exists(task->__state))
		return BPF_CORE_READ(task, __state);
	return BPF_CORE_READ((struct task_struct___pre514 *)task, state);
}

static __always_inline void on_switch(bool preempt, struct task_struct *prev,
				      struct task_struct *next, __u32 prev_state, bool by_pid)
{
	struct sched_cpu_acc *acc = this_cpu_acc();
	struct task_sched_state *st;
	__u64 now = now_since_base();

	if (!acc)
		return;
	/* CPU busy time comes from /proc/stat: a CPU that runs one task without switching for the
	 * whole window (the "one CPU at 100 %" case) produces no event here at all. */
	acc->switches++;

	if (TASK_FIELD(by_pid, prev, pid) != 0) {
		if (prev_state & SCHED_TASK_DEAD) {
			forget_task(prev, by_pid);
		} else if ((st = task_state(prev, by_pid)) && task_traced(prev, st)) {
			/* A span still open on a task that was running is stale (it began before we
			 * saw the task, or we missed its wakeup): end it here rather than let it grow. */
			if (st->phase == SCHED_PHASE_QUEUED || st->phase == SCHED_PHASE_BLOCKED)
				close_span(acc, prev, st, now, NULL, by_pid);
			/* Preempted, or yielded while runnable: it waits on a run queue from now on,
			 * whatever its state word says. This is where CPU-bound tasks do their waiting. */
			if (preempt || prev_state == SCHED_TASK_RUNNING)
				open_span(acc, st, SCHED_PHASE_QUEUED, SCHED_WAIT_RUNQ, now);
			else if ((prev_state & SCHED_TASK_UNINTERRUPTIBLE) &&
				 !(prev_state & (SCHED_TASK_NOLOAD | SCHED_TASK_FROZEN)))
				open_span(acc, st, SCHED_PHASE_BLOCKED, d_state_kind(prev, by_pid), now);
			else
				st->phase = SCHED_PHASE_SLEEPING;
		}
	}

	if (TASK_FIELD(by_pid, next, pid) != 0) {
		st = task_state(next, by_pid);
		if (st && task_traced(next, st)) {
			if (st->phase == SCHED_PHASE_QUEUED) {
				__u64 wait_ns = now > st->since_ns ? now - st->since_ns : 0;
				acc->runq_wait_here_ns += wait_ns;
				close_span(acc, next, st, now, NULL, by_pid);
			} else if (st->phase == SCHED_PHASE_BLOCKED) {
				close_span(acc, next, st, now, NULL, by_pid); /* its wakeup was not seen */
			}
			st->phase = SCHED_PHASE_RUNNING;
		}
	}
}

static __always_inline void on_wakeup(struct task_struct *p, bool by_pid)
{
	struct sched_cpu_acc *acc = this_cpu_acc();
	struct task_sched_state *st;
	__u64 now;

	if (!acc)
		return;
	acc->wakeups++;
	st = task_state(p, by_pid);
	if (!st || !task_traced(p, st))
		return;
	/* A wakeup of a task already running or queued changes nothing (ttwu_runnable). */
	if (st->phase == SCHED_PHASE_RUNNING || st->phase == SCHED_PHASE_QUEUED)
		return;
	now = now_since_base();
	if (st->phase == SCHED_PHASE_BLOCKED)
		close_span(acc, p, st, now,
			   by_pid ? (struct task_struct *)bpf_get_current_task() : bpf_get_current_task_btf(),
			   by_pid);
	open_span(acc, st, SCHED_PHASE_QUEUED, SCHED_WAIT_RUNQ, now);
}

static __always_inline __u32 switch_prev_state(struct task_struct *prev, __u64 state_arg)
{
	return switch_has_prev_state ? (__u32)state_arg : task_state_bits(prev);
}

/* ---- tp_btf set: typed arguments, task storage ---- */

SEC("tp_btf/sched_switch")
int BPF_PROG(switch_btf, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	__u64 state_arg = switch_has_prev_state ? ctx[3] : 0;
	on_switch(preempt, prev, next, switch_prev_state(prev, state_arg), false);
	return 0;
}

SEC("tp_btf/sched_wakeup")
int BPF_PROG(wakeup_btf, struct task_struct *p)
{
	on_wakeup(p, false);
	return 0;
}

SEC("tp_btf/sched_wakeup_new")
int BPF_PROG(wakeup_new_btf, struct task_struct *p)
{
	on_wakeup(p, false);
	return 0;
}

/* ---- raw_tp set: untyped arguments read through CO-RE, per-pid hash map ---- */

SEC("raw_tp/sched_switch")
int BPF_PROG(switch_raw, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	__u64 state_arg = switch_has_prev_state ? ctx[3] : 0;
	on_switch(preempt, prev, next, switch_prev_state(prev, state_arg), true);
	return 0;
}

SEC("raw_tp/sched_wakeup")
int BPF_PROG(wakeup_raw, struct task_struct *p)
{
	on_wakeup(p, true);
	return 0;
}

SEC("raw_tp/sched_wakeup_new")
int BPF_PROG(wakeup_new_raw, struct task_struct *p)
{
	on_wakeup(p, true);
	return 0;
}

/* ---- seeding: tasks already queued or blocked when the probes attach ---- */

/* Run once right after attach: a task stuck in D since before the window (the hung NFS mount of
 * a 3 a.m. incident) never produces a switch-out we could see, so we open its span here. */
static __always_inline int seed_task(struct task_struct *task, bool by_pid)
{
	struct sched_cpu_acc *acc = this_cpu_acc();
	struct task_sched_state *st;
	__u32 state;
	__u64 now;

	if (!task || !acc || TASK_FIELD(by_pid, task, pid) == 0)
		return 0;
	st = task_state(task, by_pid);
	if (!st || st->phase != SCHED_PHASE_UNKNOWN || !task_traced(task, st))
		return 0;
	now = now_since_base();
	state = task_state_bits(task);
	if (state == SCHED_TASK_RUNNING) {
		if (BPF_CORE_READ(task, on_rq) && !BPF_CORE_READ(task, on_cpu))
			open_span(acc, st, SCHED_PHASE_QUEUED, SCHED_WAIT_RUNQ, now);
	} else if ((state & SCHED_TASK_UNINTERRUPTIBLE) &&
		   !(state & (SCHED_TASK_NOLOAD | SCHED_TASK_FROZEN))) {
		open_span(acc, st, SCHED_PHASE_BLOCKED, d_state_kind(task, by_pid), now);
	}
	return 0;
}

SEC("iter/task")
int seed_btf(struct bpf_iter__task *ctx)
{
	return seed_task(ctx->task, false);
}

SEC("iter/task")
int seed_raw(struct bpf_iter__task *ctx)
{
	return seed_task(ctx->task, true);
}

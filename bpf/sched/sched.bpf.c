// SPDX-License-Identifier: GPL-2.0
/* The sched family: run-queue latency, D-state time and the load decomposition.
 *
 * One state machine per task (running, queued, blocked in D, sleeping). Closed spans feed per-CPU
 * histograms, per-process totals and, above the outlier threshold, the ring buffer; spans also
 * feed the additive per-CPU accumulators from which userspace integrates the load (see sched.h).
 *
 * Two hook sets; userspace loads one, chosen by trying the kernel.
 *
 * tp_btf (typed arguments, task storage) does nearly everything at sched_switch. Switch-out opens
 * a run-queue span when the task was preempted and a D span when it sleeps uninterruptibly, and
 * notes the task's sched_info.run_delay. Switch-in reads how long the task waited on run queues
 * from the scheduler's own bookkeeping (sched_info, see runq_wait_since_out()), so no program
 * runs at a wakeup at all. A D span ends at switch-in minus that run-queue wait, which is the
 * instant of the wakeup. The price: the waker of a D wait is not known in this set. A wakeup
 * program that only looked up the wakee's state to name it cost ~80 ns per wakeup (bpf_stats,
 * pipe workload), ~15 % of the family's whole cost, for a name on D outliers.
 *
 * raw_tp (untyped arguments read through CO-RE, a bounded hash map keyed by pid) keeps the
 * original machine for kernels that refuse the first set: sched_wakeup and sched_wakeup_new
 * close a D span and open a run-queue span, switch-in closes it.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "common/bits.bpf.h"
#include "common/filter.bpf.h"
#include "common/maps.bpf.h"
#include "sched/sched.h"


char LICENSE[] SEC("license") = "GPL";

/* Set by the loader before load; constant for the verifier, so unused branches are pruned. */
const volatile __u64 base_ns = 0;            /* CLOCK_MONOTONIC at open: span times are relative */
const volatile __u64 outlier_threshold_ns = 10 * 1000 * 1000;
const volatile bool switch_has_prev_state = true; /* 5.18+: sched_switch passes prev_state */

struct task_sched_state {
	__u64 since_ns; /* start of the open span, ns since base_ns */
	/* tp_btf set: the task's sched_info.run_delay when it last left a CPU (or was seeded), so
	 * that its next switch-in knows how long it has waited on run queues since then. */
	__u64 run_delay_out;
	__u8 phase;     /* enum sched_task_phase */
	__u8 kind;      /* enum sched_wait_kind of the open span */
	__u8 verdict;   /* filter: 0 not decided, 1 traced, 2 filtered out */
	__u8 has_run_delay_out;
	__u32 owner_cpu; /* where the open span was opened: its load belongs to that CPU */
	/* se.sum_exec_runtime up to which the task's CPU time has gone to its process: each
	 * switch-out adds the growth since, so a run whose switch-in no program saw is not lost. */
	__u64 exec_accounted;
	__u8 has_exec_accounted;
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

/* Indexed by CPU; the loader sizes it to the possible CPUs (struct sched_cpu_running). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sched_cpu_running);
} cpu_running SEC(".maps");

/* se.sum_exec_runtime of every thread at attach, by tid, written once by the seeding pass: the
 * baseline for per-thread CPU time in the window (threads born later start from 0). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, __u32);
	__type(value, __u64);
} thread_exec_at_start SEC(".maps");

/* Indexed by owner CPU; the loader sizes it to the possible CPUs. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sched_span_transfer);
} span_transfers SEC(".maps");

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

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sched_proc_cache);
} proc_cache SEC(".maps");

#define SCHED_RING_BYTES (4 << 20) /* ~50k records: rides out a consumer that waits 250 ms for a CPU at 200k events/s */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, SCHED_RING_BYTES);
} events SEC(".maps");

/* Kernels before 5.14 named the state field `state`. */
struct task_struct___pre514 {
	volatile long state;
} __attribute__((preserve_access_index));

/* Kernels before 5.16 kept the task's CPU in task_struct. */
struct task_struct___pre516 {
	unsigned int cpu;
} __attribute__((preserve_access_index));

/* A task field: by_pid marks the raw_tp set, whose task pointers are untyped (TYPED_FIELD). */
#define TASK_FIELD(by_pid, task, field) TYPED_FIELD(!(by_pid), task, field)

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

/* The task's state if it has one, never creating it (for a task that is going away). */
static __always_inline struct task_sched_state *task_state_if_any(struct task_struct *task, bool by_pid)
{
	__u32 pid;

	if (!by_pid)
		return bpf_task_storage_get(&task_states, task, 0, 0);
	pid = TASK_FIELD(by_pid, task, pid);
	return bpf_map_lookup_elem(&task_states_by_pid, &pid);
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

/* Opens a span owned by `owner_cpu`: on this CPU's accumulator, or through the owner's transfer
 * entry when the task waits on another CPU's queue (a raw_tp wakeup onto a remote CPU, seeding). */
static __always_inline void open_span_on(struct sched_cpu_acc *acc, struct task_sched_state *st,
					 __u8 phase, __u32 kind, __u64 now, __u32 owner_cpu)
{
	kind &= SCHED_WAIT_KINDS - 1;
	st->phase = phase;
	st->kind = kind;
	st->since_ns = now;
	st->owner_cpu = owner_cpu;
	if (owner_cpu != bpf_get_smp_processor_id()) {
		struct sched_span_transfer *x = bpf_map_lookup_elem(&span_transfers, &owner_cpu);

		if (x) {
			__sync_fetch_and_add(&x->open[kind], 1);
			__sync_fetch_and_add(&x->open_start_sum[kind], now);
			return;
		}
		st->owner_cpu = bpf_get_smp_processor_id(); /* no such CPU: keep it here */
	}
	acc->open[kind]++;
	acc->open_start_sum[kind] += now;
}

static __always_inline void open_span(struct sched_cpu_acc *acc, struct task_sched_state *st,
				      __u8 phase, __u32 kind, __u64 now)
{
	open_span_on(acc, st, phase, kind, now, bpf_get_smp_processor_id());
}

/* Adds a process's waits (one wait, or a cache entry written back) to its proc_stats row. */
static __always_inline void proc_stats_add(__u32 tgid, struct sched_proc_stats *add,
					   struct sched_cpu_acc *acc)
{
	struct sched_proc_stats *ps = bpf_map_lookup_elem(&proc_stats, &tgid);
	int kind;

	if (!ps) {
		long err = bpf_map_update_elem(&proc_stats, &tgid, add, BPF_NOEXIST);

		if (!err)
			return;
		if (row_not_created(err)) {
			acc->proc_map_full++;
			return;
		}
		ps = bpf_map_lookup_elem(&proc_stats, &tgid); /* another CPU created it meanwhile */
		if (!ps)
			return;
	}
	if (add->oncpu_ns)
		__sync_fetch_and_add(&ps->oncpu_ns, add->oncpu_ns);
	for (kind = 0; kind < SCHED_WAIT_KINDS; kind++) {
		if (!add->count[kind])
			continue;
		__sync_fetch_and_add(&ps->total_ns[kind], add->total_ns[kind]);
		__sync_fetch_and_add(&ps->count[kind], add->count[kind]);
		if (add->max_ns[kind] > ps->max_ns[kind])
			ps->max_ns[kind] = add->max_ns[kind]; /* a lost race only under-reports the max by one wait */
	}
}

/* This CPU's write-back cache entry for the task's process (sched.h), claimed if another process
 * held the slot; NULL only if the per-CPU cache cannot be looked up. */
static __always_inline struct sched_proc_cache_entry *process_entry(struct task_struct *task,
								    struct sched_cpu_acc *acc, bool by_pid)
{
	__u32 tgid = TASK_FIELD(by_pid, task, tgid), zero = 0, i = tgid;
	struct sched_proc_cache_entry *e;
	struct sched_proc_cache *cache;

	cache = bpf_map_lookup_elem(&proc_cache, &zero);
	if (!cache)
		return NULL;
	/* The bound restated as a mask the verifier keeps (as in hist_add). */
	asm volatile("" : "+r"(i));
	e = &cache->entries[i & (SCHED_PROC_CACHE_SLOTS - 1)];
	if (e->used && e->tgid != tgid) {
		proc_stats_add(e->tgid, &e->stats, acc);
		e->used = 0;
	}
	if (!e->used) {
		__builtin_memset(&e->stats, 0, sizeof(e->stats));
		BPF_CORE_READ_STR_INTO(&e->stats.comm, task, group_leader, comm);
		e->tgid = tgid;
		e->used = 1;
	}
	return e;
}

/* One finished run on a CPU for its process. */
static __always_inline void account_cpu_time(struct task_struct *task, __u64 ran_ns,
					     struct sched_cpu_acc *acc, bool by_pid)
{
	struct sched_proc_cache_entry *e = process_entry(task, acc, by_pid);

	if (e) {
		e->stats.oncpu_ns += ran_ns;
		return;
	}
	struct sched_proc_stats one = {};

	one.oncpu_ns = ran_ns;
	BPF_CORE_READ_STR_INTO(&one.comm, task, group_leader, comm);
	proc_stats_add(TASK_FIELD(by_pid, task, tgid), &one, acc);
}

/* One finished wait for its process, through this CPU's write-back cache (sched.h). */
static __always_inline void account_process(struct task_struct *task, __u32 kind, __u64 wait_ns,
					    struct sched_cpu_acc *acc, bool by_pid)
{
	struct sched_proc_cache_entry *e = process_entry(task, acc, by_pid);

	kind &= SCHED_WAIT_KINDS - 1;
	if (!e) {
		struct sched_proc_stats one = {};

		one.total_ns[kind] = wait_ns;
		one.count[kind] = 1;
		one.max_ns[kind] = wait_ns;
		BPF_CORE_READ_STR_INTO(&one.comm, task, group_leader, comm);
		proc_stats_add(TASK_FIELD(by_pid, task, tgid), &one, acc);
		return;
	}
	e->stats.total_ns[kind] += wait_ns;
	e->stats.count[kind]++;
	if (wait_ns > e->stats.max_ns[kind])
		e->stats.max_ns[kind] = wait_ns;
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

/* A finished wait enters the histograms, the per-process totals and, if long, the timeline. */
static __always_inline void record_wait(struct sched_cpu_acc *acc, struct task_struct *task,
					__u32 kind, __u64 wait_ns, __u64 end,
					struct task_struct *waker, bool by_pid)
{
	struct sched_hists *h;
	__u32 zero = 0;

	kind &= SCHED_WAIT_KINDS - 1;
	h = bpf_map_lookup_elem(&hists, &zero);
	if (h)
		hist_add(&h->by_kind[kind], wait_ns / 1000);
	/* The histogram keeps the wait's whole length; the process's total in the window only the
	 * part since the window began (a wait that began before attach ends at `end`). */
	account_process(task, kind, wait_ns < end ? wait_ns : end, acc, by_pid);
	if (wait_ns >= outlier_threshold_ns)
		emit_outlier(task, kind, wait_ns, end, waker, acc);
}

/* Takes the task's open span out of the load integral, ending it at `end`, on its owner CPU. */
static __always_inline __u64 end_span(struct sched_cpu_acc *acc, struct task_sched_state *st,
				      __u64 end)
{
	__u32 kind = st->kind & (SCHED_WAIT_KINDS - 1), owner = st->owner_cpu;
	__u64 start = st->since_ns;
	__u64 wait_ns = end > start ? end - start : 0;

	if (owner != bpf_get_smp_processor_id()) {
		struct sched_span_transfer *x = bpf_map_lookup_elem(&span_transfers, &owner);

		if (x) {
			__sync_fetch_and_add(&x->open[kind], -1);
			__sync_fetch_and_add(&x->open_start_sum[kind], -start);
			__sync_fetch_and_add(&x->closed_ns[kind], wait_ns);
			return wait_ns;
		}
	}
	acc->open[kind]--;
	acc->open_start_sum[kind] -= start;
	acc->closed_ns[kind] += wait_ns;
	return wait_ns;
}

/* When `task`, now switching out, came onto this CPU, in ns since base_ns: now minus how long it
 * has run since, both read on the scheduler's own clock (rq->clock was updated in __schedule()
 * before the tracepoint; sched_info.last_arrival is its value at the task's switch-in). `now`
 * when the kernel keeps neither. A span left open because its switch-in was missed ends here. */
static __always_inline __u64 arrival_since_base(struct task_struct *task, __u64 now, bool by_pid)
{
	__u64 clock = 0, arrived = 0;

	if (!bpf_core_field_exists(task->se.cfs_rq) || !bpf_core_field_exists(task->sched_info.last_arrival))
		return now;
	if (by_pid) {
		clock = BPF_CORE_READ(task, se.cfs_rq, rq, clock);
		arrived = BPF_CORE_READ(task, sched_info.last_arrival);
	} else {
		clock = task->se.cfs_rq->rq->clock;
		arrived = task->sched_info.last_arrival;
	}
	if (!arrived || clock < arrived || clock - arrived > now)
		return now;
	return now - (clock - arrived);
}

/* Ends the task's open span at `now`: the wait enters the histograms and totals. */
static __always_inline void close_span(struct sched_cpu_acc *acc, struct task_struct *task,
				       struct task_sched_state *st, __u64 now,
				       struct task_struct *waker, bool by_pid)
{
	__u32 kind = st->kind;
	__u64 wait_ns = end_span(acc, st, now);

	record_wait(acc, task, kind, wait_ns, now, waker, by_pid);
}

/* The task is switching out, so it was running: a span still open on it is stale (its switch-in
 * was missed, or it was seeded before the task ran). It ends at the task's arrival on this CPU,
 * and its wait is recorded, since that is when it really ended. */
static __always_inline void close_stale_span(struct sched_cpu_acc *acc, struct task_struct *task,
					     struct task_sched_state *st, __u64 now, bool by_pid)
{
	__u64 arrived = arrival_since_base(task, now, by_pid);

	close_span(acc, task, st, arrived > st->since_ns ? arrived : st->since_ns, NULL, by_pid);
	acc->stale_spans_closed++;
}

/* A task being freed whose span is still open (its last switch-out was not seen): the span ends
 * now, out of the integral only, since when it really ended is unknown. */
static __always_inline void forget_freed_task(struct task_struct *task, bool by_pid)
{
	struct sched_cpu_acc *acc = this_cpu_acc();
	struct task_sched_state *st = task_state_if_any(task, by_pid);

	if (!st)
		return;
	if (acc && (st->phase == SCHED_PHASE_QUEUED || st->phase == SCHED_PHASE_BLOCKED)) {
		end_span(acc, st, now_since_base());
		st->phase = SCHED_PHASE_SLEEPING;
		acc->exit_spans_closed++;
	}
	forget_task(task, by_pid);
}

static __always_inline struct sched_cpu_running *this_cpu_running(void)
{
	__u32 cpu = bpf_get_smp_processor_id();

	return bpf_map_lookup_elem(&cpu_running, &cpu);
}

static __always_inline __u64 task_exec_runtime(struct task_struct *task, bool by_pid)
{
	return TASK_FIELD(by_pid, task, se.sum_exec_runtime);
}

/* Where a task's CPU time in the window starts, the first time it leaves a CPU without a baseline
 * in its state: from 0 for a thread born after the probes were opened (checked first, since
 * thread ids are reused), from the seeding pass's reading for the others, else from now (a
 * thread the seeding pass had not reached yet, before the window began). */
static __always_inline __u64 first_exec_baseline(struct task_struct *task, __u64 exec_now, bool by_pid)
{
	__u32 tid = TASK_FIELD(by_pid, task, pid);
	__u64 *at_start;

	if (TASK_FIELD(by_pid, task, start_time) >= base_ns)
		return 0;
	at_start = bpf_map_lookup_elem(&thread_exec_at_start, &tid);
	return at_start ? *at_start : exec_now;
}

/* The task leaves this CPU: its CPU time since it last left one goes to its process. It is read
 * from the task's own counter, se.sum_exec_runtime (brought up to date by put_prev_task() before
 * the tracepoint), so a missed switch-in loses nothing. Without task state (a full map), the run
 * this CPU saw begin is the fallback. `traced`: the task passes -p/--cgroup, as its state already
 * decided (no second filter check per switch). */
static __always_inline void end_run(struct sched_cpu_acc *acc, struct sched_cpu_running *run,
				    struct task_sched_state *st, struct task_struct *prev, bool by_pid,
				    bool traced)
{
	__u32 pid = TASK_FIELD(by_pid, prev, pid);
	bool run_is_prev = run && run->pid == pid;
	__u64 exec_now = task_exec_runtime(prev, by_pid);
	__u64 base;

	if (st) {
		base = st->has_exec_accounted ? st->exec_accounted : first_exec_baseline(prev, exec_now, by_pid);
		st->exec_accounted = exec_now;
		st->has_exec_accounted = 1;
	} else if (run_is_prev) {
		base = run->exec_at_switch_in;
	} else {
		acc->runs_unattributed++;
		return;
	}
	if (run_is_prev)
		run->pid = 0;
	if (exec_now > base && traced)
		account_cpu_time(prev, exec_now - base, acc, by_pid);
}

static __always_inline void begin_run(struct sched_cpu_running *run, struct task_struct *next, bool by_pid)
{
	if (!run)
		return;
	run->pid = TASK_FIELD(by_pid, next, pid);
	run->tgid = TASK_FIELD(by_pid, next, tgid);
	run->exec_at_switch_in = task_exec_runtime(next, by_pid);
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

/* The CPU whose run queue the task is on (or last ran on). 5.16 moved it from task_struct into
 * thread_info on every architecture. */
static __always_inline __u32 task_cpu(struct task_struct *task, bool by_pid)
{
	if (bpf_core_field_exists(task->thread_info.cpu))
		return TASK_FIELD(by_pid, task, thread_info.cpu);
	return BPF_CORE_READ((struct task_struct___pre516 *)task, cpu);
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
	struct sched_cpu_running *run;
	struct task_sched_state *st;
	__u64 now = now_since_base();

	if (!acc)
		return;
	/* CPU busy time comes from /proc/stat: a CPU that runs one task without switching for the
	 * whole window (the "one CPU at 100 %" case) produces no event here at all. */
	acc->switches++;
	run = this_cpu_running();

	if (TASK_FIELD(by_pid, prev, pid) != 0) {
		bool dead = prev_state & SCHED_TASK_DEAD;

		bool traced;

		st = dead ? task_state_if_any(prev, by_pid) : task_state(prev, by_pid);
		traced = st ? task_traced(prev, st) : !filter_active() || task_matches_filter(prev);
		end_run(acc, run, st, prev, by_pid, traced);
		if (st && traced) {
			if (st->phase == SCHED_PHASE_QUEUED || st->phase == SCHED_PHASE_BLOCKED)
				close_stale_span(acc, prev, st, now, by_pid);
			/* Preempted, or yielded while runnable: it waits on a run queue from now on,
			 * whatever its state word says. This is where CPU-bound tasks do their waiting. */
			if (dead)
				st->phase = SCHED_PHASE_SLEEPING;
			else if (preempt || prev_state == SCHED_TASK_RUNNING)
				open_span(acc, st, SCHED_PHASE_QUEUED, SCHED_WAIT_RUNQ, now);
			else if ((prev_state & SCHED_TASK_UNINTERRUPTIBLE) &&
				 !(prev_state & (SCHED_TASK_NOLOAD | SCHED_TASK_FROZEN)))
				open_span(acc, st, SCHED_PHASE_BLOCKED, d_state_kind(prev, by_pid), now);
			else
				st->phase = SCHED_PHASE_SLEEPING;
		}
		if (dead)
			forget_task(prev, by_pid);
	}

	if (run)
		run->pid = 0;
	if (TASK_FIELD(by_pid, next, pid) != 0) {
		begin_run(run, next, by_pid);
		st = task_state(next, by_pid);
		if (st && task_traced(next, st)) {
			if (st->phase == SCHED_PHASE_QUEUED) {
				close_span(acc, next, st, now, NULL, by_pid);
			} else if (st->phase == SCHED_PHASE_BLOCKED) {
				close_span(acc, next, st, now, NULL, by_pid); /* its wakeup was not seen */
				acc->stale_spans_closed++;
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
	/* The wakee waits on the run queue the wakeup chose, often not the waker's. */
	open_span_on(acc, st, SCHED_PHASE_QUEUED, SCHED_WAIT_RUNQ, now, task_cpu(p, by_pid));
}

static __always_inline __u32 switch_prev_state(struct task_struct *prev, __u64 state_arg)
{
	return switch_has_prev_state ? (__u32)state_arg : task_state_bits(prev);
}

/* ---- tp_btf set: typed arguments, task storage, run-queue waits from the kernel's sched_info ---- */

/* How long `next` has waited on run queues since it last left a CPU, exactly as schedstat will
 * count it. The scheduler keeps this itself (CONFIG_SCHED_INFO, kernel/sched/stats.h): enqueue
 * stamps sched_info.last_queued with rq_clock (only if unset, so a preempted task's re-queue in
 * sched_info_depart and a wakeup both start the wait); a dequeue while queued (migration) adds the
 * part waited so far to run_delay and clears the stamp for the next run queue to set again; and
 * sched_info_arrive, called from context_switch() right after this tracepoint, adds
 * rq_clock(rq) - last_queued to run_delay. rq->clock was updated in __schedule() before the
 * tracepoint and is not touched in between, so reading it here gives the same "now".
 *
 * The run queue is reached through the task's CFS run queue (CONFIG_FAIR_GROUP_SCHED, which
 * set_task_rq() points at the task's CPU whatever its class): the per-CPU variable runqueues
 * would need CONFIG_KALLSYMS_ALL, which kernels built small leave out. */
static __always_inline __u64 runq_wait_since_out(struct task_struct *next,
						 struct task_sched_state *st, bool *was_queued)
{
	struct rq *rq = next->se.cfs_rq->rq;
	__u64 queued_at = next->sched_info.last_queued;
	__u64 clock = rq->clock;
	__u64 last_piece = queued_at && clock > queued_at ? clock - queued_at : 0;
	__u64 run_delay = next->sched_info.run_delay;

	*was_queued = queued_at != 0;
	/* No baseline (a task born or first seen after the seeding pass): the last run queue's
	 * piece only, which is the whole wait unless the task migrated while it waited. */
	if (!st || !st->has_run_delay_out || run_delay < st->run_delay_out)
		return last_piece;
	if (run_delay > st->run_delay_out)
		*was_queued = true; /* it waited on another CPU's queue first, then migrated */
	return run_delay - st->run_delay_out + last_piece;
}

static __always_inline void switch_in_sched_info(struct sched_cpu_acc *acc, struct task_struct *next,
						 __u64 now)
{
	struct task_sched_state *st = bpf_task_storage_get(&task_states, next, 0, 0);
	bool was_queued = false;
	__u64 runq_ns;

	if (st ? !task_traced(next, st) : filter_active() && !task_matches_filter(next))
		return;
	runq_ns = runq_wait_since_out(next, st, &was_queued);
	if (st) {
		if (st->phase == SCHED_PHASE_BLOCKED) {
			/* The D wait ended at the wakeup, where the run-queue wait began. */
			__u64 woken = now > runq_ns ? now - runq_ns : 0;
			__u32 kind = st->kind;
			__u64 d_ns = end_span(acc, st, woken > st->since_ns ? woken : st->since_ns);

			record_wait(acc, next, kind, d_ns, woken, NULL, false);
		} else if (st->phase == SCHED_PHASE_QUEUED) {
			/* Preempted (or seeded while queued): the span the load integral has seen
			 * open since then ends now. Histograms still take the kernel's length. */
			end_span(acc, st, now);
			was_queued = true;
			st->phase = SCHED_PHASE_RUNNING;
			goto record;
		}
		st->phase = SCHED_PHASE_RUNNING;
	}
	if (!was_queued)
		return;
	/* A wait that began at a wakeup was never open in the integral: it enters whole, now, and
	 * only its part since base_ns (the window). */
	acc->closed_ns[SCHED_WAIT_RUNQ] += runq_ns < now ? runq_ns : now;
record:
	record_wait(acc, next, SCHED_WAIT_RUNQ, runq_ns, now, NULL, false);
}

static __always_inline void switch_out_sched_info(struct sched_cpu_acc *acc, bool preempt,
						  struct task_struct *prev, __u32 prev_state,
						  __u64 now, struct sched_cpu_running *run)
{
	bool dead = prev_state & SCHED_TASK_DEAD;
	struct task_sched_state *st;
	bool traced;

	st = bpf_task_storage_get(&task_states, prev, 0, dead ? 0 : BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!st) {
		if (!dead)
			acc->task_state_missing++;
		end_run(acc, run, NULL, prev, false, !filter_active() || task_matches_filter(prev));
		return;
	}
	traced = task_traced(prev, st);
	end_run(acc, run, st, prev, false, traced);
	if (!traced)
		goto out;
	/* A span still open on a task that was running is stale (seeded before the task ran, or
	 * a D span whose switch-in we missed): it ends where the task came onto this CPU. */
	if (st->phase == SCHED_PHASE_QUEUED || st->phase == SCHED_PHASE_BLOCKED)
		close_stale_span(acc, prev, st, now, false);
	if (dead)
		goto out;
	st->run_delay_out = prev->sched_info.run_delay;
	st->has_run_delay_out = 1;
	/* A preempted task's wait is open in the load integral from now on, so a task starved of
	 * CPU for seconds shows while it starves; waits that begin at a wakeup show when they end. */
	if (preempt || prev_state == SCHED_TASK_RUNNING)
		open_span(acc, st, SCHED_PHASE_QUEUED, SCHED_WAIT_RUNQ, now);
	else if ((prev_state & SCHED_TASK_UNINTERRUPTIBLE) &&
		 !(prev_state & (SCHED_TASK_NOLOAD | SCHED_TASK_FROZEN)))
		open_span(acc, st, SCHED_PHASE_BLOCKED, d_state_kind(prev, false), now);
	else
		st->phase = SCHED_PHASE_SLEEPING;
	return;
out:
	if (dead)
		bpf_task_storage_delete(&task_states, prev);
}

SEC("tp_btf/sched_switch")
int BPF_PROG(switch_btf, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	__u64 state_arg = switch_has_prev_state ? ctx[3] : 0;
	struct sched_cpu_acc *acc = this_cpu_acc();
	__u64 now = now_since_base();

	struct sched_cpu_running *run;

	if (!acc)
		return 0;
	acc->switches++;
	run = this_cpu_running();
	if (prev->pid)
		switch_out_sched_info(acc, preempt, prev, switch_prev_state(prev, state_arg), now, run);
	if (next->pid) {
		begin_run(run, next, false);
		switch_in_sched_info(acc, next, now);
	} else if (run) {
		run->pid = 0;
	}
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

/* ---- a task freed with a span still open (its last switch-out was not seen) ---- */

SEC("tp_btf/sched_process_free")
int BPF_PROG(free_btf, struct task_struct *task)
{
	forget_freed_task(task, false);
	return 0;
}

SEC("raw_tp/sched_process_free")
int BPF_PROG(free_raw, struct task_struct *task)
{
	forget_freed_task(task, true);
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
	{
		__u32 tid = TASK_FIELD(by_pid, task, pid);
		__u64 exec = task_exec_runtime(task, by_pid);

		bpf_map_update_elem(&thread_exec_at_start, &tid, &exec, BPF_NOEXIST);
		/* A task on a CPU now may never switch out in the window (a SCHED_FIFO spinner): its
		 * run is noted as if it had just come onto that CPU. A switch-in there first wins. */
		if (BPF_CORE_READ(task, on_cpu)) {
			__u32 cpu = task_cpu(task, by_pid);
			struct sched_cpu_running *run = bpf_map_lookup_elem(&cpu_running, &cpu);

			if (run && run->pid == 0) {
				run->tgid = TASK_FIELD(by_pid, task, tgid);
				run->exec_at_switch_in = exec;
				run->pid = tid;
			}
		}
	}
	st = task_state(task, by_pid);
	if (st && !st->has_exec_accounted) {
		/* A switch-out before this pass already set a later baseline: it wins. */
		st->exec_accounted = task_exec_runtime(task, by_pid);
		st->has_exec_accounted = 1;
	}
	if (!st || st->phase != SCHED_PHASE_UNKNOWN || !task_traced(task, st))
		return 0;
	if (!by_pid) {
		/* The tp_btf set measures run-queue waits by the growth of run_delay from here. */
		st->run_delay_out = BPF_CORE_READ(task, sched_info.run_delay);
		st->has_run_delay_out = 1;
	}
	now = now_since_base();
	state = task_state_bits(task);
	/* The iterator runs on one CPU; each span belongs to the CPU the task is on. */
	if (state == SCHED_TASK_RUNNING) {
		if (BPF_CORE_READ(task, on_rq) && !BPF_CORE_READ(task, on_cpu))
			open_span_on(acc, st, SCHED_PHASE_QUEUED, SCHED_WAIT_RUNQ, now, task_cpu(task, by_pid));
	} else if ((state & SCHED_TASK_UNINTERRUPTIBLE) &&
		   !(state & (SCHED_TASK_NOLOAD | SCHED_TASK_FROZEN))) {
		open_span_on(acc, st, SCHED_PHASE_BLOCKED, d_state_kind(task, by_pid), now, task_cpu(task, by_pid));
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

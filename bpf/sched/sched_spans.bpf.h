/* Part of sched.bpf.c: the load integral. A wait is a span opened and closed on its owner CPU's
 * accumulator (or through span_transfers when it waits on another CPU's queue), so that userspace
 * can integrate how many tasks waited at every instant (sched.h); closing one records the wait,
 * and a stale or orphaned span is closed too. */
#ifndef TRIAGE_SCHED_SPANS_BPF_H
#define TRIAGE_SCHED_SPANS_BPF_H

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

#endif /* TRIAGE_SCHED_SPANS_BPF_H */

/* Part of sched.bpf.c: what a context switch and a wakeup do to the task's spans. First the raw_tp
 * set's machine (on_switch, on_wakeup), then the tp_btf set's, which reads run-queue waits from
 * the scheduler's own sched_info at switch-in instead of running at wakeups. */
#ifndef TRIAGE_SCHED_SWITCH_BPF_H
#define TRIAGE_SCHED_SWITCH_BPF_H

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
	open_span_on(acc, st, SCHED_PHASE_QUEUED, SCHED_WAIT_RUNQ, now, task_cpu(p, !by_pid));
}

static __always_inline __u32 switch_prev_state(struct task_struct *prev, __u64 state_arg)
{
	return switch_has_prev_state ? (__u32)state_arg : task_state_bits(prev);
}

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

#endif /* TRIAGE_SCHED_SWITCH_BPF_H */

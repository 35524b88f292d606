/* Part of sched.bpf.c: the seeding pass (iter/task), run once after attach, which opens spans for
 * tasks already queued or blocked and notes every thread's CPU time at the start. */
#ifndef TRIAGE_SCHED_SEED_BPF_H
#define TRIAGE_SCHED_SEED_BPF_H

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
			__u32 cpu = task_cpu(task, !by_pid);
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
			open_span_on(acc, st, SCHED_PHASE_QUEUED, SCHED_WAIT_RUNQ, now, task_cpu(task, !by_pid));
	} else if ((state & SCHED_TASK_UNINTERRUPTIBLE) &&
		   !(state & (SCHED_TASK_NOLOAD | SCHED_TASK_FROZEN))) {
		open_span_on(acc, st, SCHED_PHASE_BLOCKED, d_state_kind(task, by_pid), now, task_cpu(task, !by_pid));
	}
	return 0;
}

#endif /* TRIAGE_SCHED_SEED_BPF_H */

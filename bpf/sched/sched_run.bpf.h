/* Part of sched.bpf.c: CPU time. A task's run on a CPU is measured from its own
 * se.sum_exec_runtime, against a baseline taken at its first switch-out in the window, and goes
 * to its process. */
#ifndef TRIAGE_SCHED_RUN_BPF_H
#define TRIAGE_SCHED_RUN_BPF_H

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

#endif /* TRIAGE_SCHED_RUN_BPF_H */

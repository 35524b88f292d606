/* Part of sched.bpf.c: a task's state machine entry (task storage in the tp_btf set, the bounded
 * per-pid hash in the raw_tp set), created, looked up and forgotten, and the filter verdict cached
 * in it; with the clock and this CPU's accumulator every other part uses. */
#ifndef TRIAGE_SCHED_TASK_BPF_H
#define TRIAGE_SCHED_TASK_BPF_H

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

#endif /* TRIAGE_SCHED_TASK_BPF_H */

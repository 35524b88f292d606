/* Part of sched.bpf.c: the kernel stacks of tasks in D longer than the threshold, for "where do
 * they wait". An iterator that userspace runs once per interval (never a program per context
 * switch): it walks every task and costs a stack walk only for the few long in D. It lives in the
 * sched object because the start of the D wait is in the family's per-task state; the loader
 * reloads the set without it where this kernel refuses it, so the rest of sched is untouched. */
#ifndef TRIAGE_SCHED_STACKS_BPF_H
#define TRIAGE_SCHED_STACKS_BPF_H

const volatile __u64 stack_min_wait_ns = 10 * 1000 * 1000; /* D waits at least this long so far */

/* The record is built here (296 bytes: past what a BPF stack frame should hold). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sched_stack_sample);
} stack_scratch SEC(".maps");

static __always_inline int sample_dstate_stack(struct bpf_iter__task *ctx, bool by_pid)
{
	struct task_struct *task = ctx->task;
	struct task_sched_state *st;
	struct sched_stack_sample *s;
	__u32 zero = 0, state;
	__u64 now;
	long bytes;

	if (!task)
		return 0;
	/* TASK_UNINTERRUPTIBLE that counts toward the load: an idle kworker sleeps in TASK_IDLE
	 * (UNINTERRUPTIBLE | NOLOAD) and is no wait anyone suffers. */
	state = task_state_bits(task);
	if (!(state & SCHED_TASK_UNINTERRUPTIBLE) || (state & (SCHED_TASK_NOLOAD | SCHED_TASK_FROZEN)))
		return 0;
	st = task_state_if_any(task, by_pid);
	if (!st || st->phase != SCHED_PHASE_BLOCKED)
		return 0;
	now = now_since_base();
	if (now < st->since_ns || now - st->since_ns < stack_min_wait_ns)
		return 0;
	if (!task_traced(task, st))
		return 0;
	s = bpf_map_lookup_elem(&stack_scratch, &zero);
	if (!s)
		return 0;
	bytes = bpf_get_task_stack(task, s->ips, sizeof(s->ips), 0);
	if (bytes <= 0)
		return 0;
	s->pid = TASK_FIELD(by_pid, task, pid);
	s->tgid = TASK_FIELD(by_pid, task, tgid);
	s->wait_ns = now - st->since_ns;
	s->kind = st->kind;
	s->nr_frames = bytes / sizeof(__u64);
	BPF_CORE_READ_STR_INTO(&s->comm, task, group_leader, comm);
	bpf_seq_write(ctx->meta->seq, s, sizeof(*s));
	return 0;
}

#endif /* TRIAGE_SCHED_STACKS_BPF_H */

/* Part of sched.bpf.c: where a finished wait or run goes. The per-process totals (proc_stats,
 * through this CPU's write-back proc_cache, sched.h), the histograms, and the ring buffer for a
 * wait above the outlier threshold. */
#ifndef TRIAGE_SCHED_PROCESS_BPF_H
#define TRIAGE_SCHED_PROCESS_BPF_H

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

#endif /* TRIAGE_SCHED_PROCESS_BPF_H */

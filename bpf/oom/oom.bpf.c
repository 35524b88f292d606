// SPDX-License-Identifier: GPL-2.0
/* The oom family: every task the OOM killer marks as its victim (tracepoint oom:mark_victim),
 * with what it held, which memory cgroup it was in and how full that cgroup was, and which task
 * was allocating when the kill happened.
 *
 * Everything is read in the program, at the kill: a moment later the victim has exited, its
 * /proc entry is gone and its cgroup may be removed. Kills are rare and each one matters, so each
 * record wakes the consumer, and a counter kept here cross-checks that none was lost.
 *
 * Two programs with one handler: tp_btf and its raw_tp twin, userspace loads one.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "common/core_fixes.bpf.h"
#include "oom/oom.h"

char LICENSE[] SEC("license") = "GPL";

/* 6.8 changed mark_victim(int pid) into mark_victim(struct task_struct *task, uid_t uid). The
 * loader counts the arguments in btf_trace_mark_victim and sets this; with the old signature only
 * the victim's pid is known here, and userspace completes the kill from the kernel log. */
const volatile bool mark_victim_passes_task = true;

/* mm counters (include/linux/mm_types_task.h, stable order). */
#define MM_FILEPAGES 0
#define MM_ANONPAGES 1
#define MM_SHMEMPAGES 3

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct oom_counters);
} counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 64 * 1024); /* ~100 kills between two drains */
} events SEC(".maps");

static __always_inline void fill_memcg(struct oom_event *e, struct task_struct *task)
{
	struct cgroup_subsys_state *css;
	struct kernfs_node *kn, *parent;
	struct mem_cgroup *memcg;
	int ssid;

	if (!bpf_core_enum_value_exists(enum cgroup_subsys_id, memory_cgrp_id))
		return; /* a kernel without CONFIG_MEMCG */
	ssid = bpf_core_enum_value(enum cgroup_subsys_id, memory_cgrp_id);
	css = BPF_CORE_READ(task, cgroups, subsys[ssid & 15]);
	if (!css)
		return;
	/* struct mem_cgroup begins with its css; the offset is relocated all the same. */
	memcg = (void *)css - bpf_core_field_offset(struct mem_cgroup, css);
	e->memcg_usage_pages = BPF_CORE_READ(memcg, memory.usage.counter);
	e->memcg_limit_pages = BPF_CORE_READ(memcg, memory.max);

	kn = BPF_CORE_READ(css, cgroup, kn);
	e->memcg_id = BPF_CORE_READ(kn, id);
	/* Innermost first; the root's own node has no parent and no name in the path. */
	for (int depth = 0; depth < OOM_MEMCG_DEPTH; depth++) {
		if (!kn)
			return;
		parent = kernfs_parent(kn);
		if (!parent)
			return;
		bpf_probe_read_kernel_str(e->memcg_path[depth], OOM_MEMCG_NAME_LEN, BPF_CORE_READ(kn, name));
		e->memcg_depth = depth + 1;
		kn = parent;
	}
	if (kn && kernfs_parent(kn))
		e->memcg_truncated = 1;
}

static __always_inline void on_mark_victim(unsigned long long *ctx)
{
	struct task_struct *victim = mark_victim_passes_task ? (struct task_struct *)ctx[0] : NULL;
	__u32 uid = mark_victim_passes_task ? (__u32)ctx[1] : 0;
	struct task_struct *trigger = (struct task_struct *)bpf_get_current_task();
	struct oom_counters *c;
	struct mm_struct *mm;
	struct oom_event *e;
	__u32 zero = 0;

	c = bpf_map_lookup_elem(&counters, &zero);
	if (c)
		__sync_fetch_and_add(&c->marks, 1);
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		if (c)
			__sync_fetch_and_add(&c->events_lost, 1);
		return;
	}
	__builtin_memset(e, 0, sizeof(*e));
	e->time_ns = bpf_ktime_get_ns();
	e->trigger_pid = BPF_CORE_READ(trigger, pid);
	e->trigger_tgid = BPF_CORE_READ(trigger, tgid);
	BPF_CORE_READ_STR_INTO(&e->trigger_comm, trigger, comm);
	if (!victim) {
		e->victim_pid = e->victim_tgid = (__u32)ctx[0];
		bpf_ringbuf_submit(e, 0);
		return;
	}
	e->victim_pid = BPF_CORE_READ(victim, pid);
	e->victim_tgid = BPF_CORE_READ(victim, tgid);
	e->uid = uid;
	e->oom_score_adj = BPF_CORE_READ(victim, signal, oom_score_adj);
	BPF_CORE_READ_STR_INTO(&e->victim_comm, victim, comm);

	mm = BPF_CORE_READ(victim, mm);
	if (mm) {
		e->total_vm_pages = BPF_CORE_READ(mm, total_vm);
		e->anon_pages = mm_counter(mm, MM_ANONPAGES);
		e->file_pages = mm_counter(mm, MM_FILEPAGES);
		e->shmem_pages = mm_counter(mm, MM_SHMEMPAGES);
		e->pgtables_bytes = bpf_core_field_exists(mm->pgtables_bytes) ? BPF_CORE_READ(mm, pgtables_bytes.counter) : 0;
	}
	fill_memcg(e, victim);
	/* Wake the consumer: kills are rare, and it should read the victim's cgroup files while they
	 * still exist. */
	bpf_ringbuf_submit(e, 0);
}

SEC("tp_btf/mark_victim")
int BPF_PROG(mark_victim_btf)
{
	on_mark_victim(ctx);
	return 0;
}

SEC("raw_tp/mark_victim")
int BPF_PROG(mark_victim_raw)
{
	on_mark_victim(ctx);
	return 0;
}

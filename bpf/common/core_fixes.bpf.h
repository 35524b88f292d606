/* Kernel fields that were renamed, moved or retyped, read through one accessor each, so a family
 * asks for "the task's state" and never names a kernel version. Each accessor tries the current
 * layout with bpf_core_field_exists/bpf_core_type_exists, which libbpf resolves against the
 * running kernel's BTF at load, and falls back to a ___flavour struct that describes the old
 * layout (libbpf ignores the ___suffix when it matches types). Each comment names the kernel
 * change behind it: the commit's hash where it could be checked, else its title. */
#ifndef TRIAGE_COMMON_CORE_FIXES_BPF_H
#define TRIAGE_COMMON_CORE_FIXES_BPF_H

#include <bpf/bpf_core_read.h>
#include "common/bits.bpf.h"

/* 5.14, commit 2f064a59a11f ("sched: Change task_struct::state"): task_struct.state became
 * __state (and unsigned int) so that every access had to be found and given READ_ONCE. */
struct task_struct___pre514 {
	volatile long state;
} __attribute__((preserve_access_index));

/* 5.16, commit bcf9033e5449 ("sched: move CPU field back into thread_info if
 * THREAD_INFO_IN_TASK=y"): the CPU a task is on moved from task_struct.cpu to thread_info.cpu on
 * every architecture. */
struct task_struct___pre516 {
	unsigned int cpu;
} __attribute__((preserve_access_index));

/* 5.17, commit f3fa33acca9f ("block: remove the ->rq_disk field in struct request"): the disk is
 * reached through the queue, whose ->disk back pointer came in 5.15 (commit d152c682f03c,
 * "block: add an explicit ->disk backpointer to the request_queue"). */
struct request___pre517 {
	struct gendisk *rq_disk;
} __attribute__((preserve_access_index));

/* 6.2, commit f1a7941243c1 ("mm: convert mm's rss stats into percpu_counter"): the mm counters
 * became struct percpu_counter rss_stat[]; before they were atomics in struct mm_rss_stat. */
struct mm_rss_stat___pre62 {
	atomic_long_t count[4];
} __attribute__((preserve_access_index));

struct mm_struct___pre62 {
	struct mm_rss_stat___pre62 rss_stat;
} __attribute__((preserve_access_index));

/* 6.15: kernfs_node.parent became __parent, an RCU-protected pointer (the commit was not
 * checked here, only the release: include/linux/kernfs.h in v6.15). */
struct kernfs_node___pre615 {
	struct kernfs_node *parent;
} __attribute__((preserve_access_index));

/* The task's state bits (TASK_UNINTERRUPTIBLE, ...), whichever name the field has here. */
static __always_inline __u32 task_state_bits(struct task_struct *task)
{
	if (bpf_core_field_exists(task->__state))
		return BPF_CORE_READ(task, __state);
	return BPF_CORE_READ((struct task_struct___pre514 *)task, state);
}

/* The CPU whose run queue the task is on (or last ran on). `typed`: the verifier knows the
 * pointer's type (tp_btf, iter), so the current layout is a plain load (TYPED_FIELD). */
static __always_inline __u32 task_cpu(struct task_struct *task, bool typed)
{
	if (bpf_core_field_exists(task->thread_info.cpu))
		return TYPED_FIELD(typed, task, thread_info.cpu);
	return BPF_CORE_READ((struct task_struct___pre516 *)task, cpu);
}

/* The disk a request is for, NULL if it has none (a request without a queue). `typed` as above. */
static __always_inline struct gendisk *request_disk(struct request *rq, bool typed)
{
	struct request_queue *q;

	if (bpf_core_field_exists(((struct request___pre517 *)rq)->rq_disk))
		return TYPED_FIELD(typed, (struct request___pre517 *)rq, rq_disk);
	q = TYPED_FIELD(typed, rq, q);
	if (!q)
		return NULL;
	return TYPED_FIELD(typed, q, disk);
}

/* One of the mm's rss counters (MM_FILEPAGES, ...), in pages. */
static __always_inline __u64 mm_counter(struct mm_struct *mm, int member)
{
	long value = 0;

	if (bpf_core_type_exists(struct mm_rss_stat___pre62)) {
		struct mm_struct___pre62 *old = (void *)mm;
		bpf_core_read(&value, sizeof(value), &old->rss_stat.count[member].counter);
	} else {
		bpf_core_read(&value, sizeof(value), &mm->rss_stat[member].count);
	}
	/* Per-CPU batches not folded in yet can leave the sum briefly negative; the kernel's
	 * get_mm_counter() clamps the same way. */
	return value > 0 ? value : 0;
}

static __always_inline struct kernfs_node *kernfs_parent(struct kernfs_node *kn)
{
	if (bpf_core_field_exists(kn->__parent))
		return BPF_CORE_READ(kn, __parent);
	return BPF_CORE_READ((struct kernfs_node___pre615 *)kn, parent);
}

#endif /* TRIAGE_COMMON_CORE_FIXES_BPF_H */

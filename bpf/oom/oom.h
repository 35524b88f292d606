/* The oom family's ABI: every struct the BPF program and the C++ loader both see.
 * Plain __u* types only; user/oom/oom_abi.h static_asserts the layout on the C++ side. */
#ifndef TRIAGE_OOM_H
#define TRIAGE_OOM_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

/* Components of the victim's memory cgroup path kept, innermost last; deeper paths are cut at
 * the top and flagged (memcg_truncated). */
#define OOM_MEMCG_DEPTH 8
#define OOM_MEMCG_NAME_LEN 64

/* One task marked as an OOM victim (tracepoint oom:mark_victim), filled at the moment of the
 * kill: the victim still has its mm, and its memory cgroup still exists. */
struct oom_event {
	__u64 time_ns;           /* CLOCK_MONOTONIC */
	__u64 total_vm_pages;
	__u64 anon_pages;        /* RSS by kind, as the kernel's own "Killed process" line counts it */
	__u64 file_pages;
	__u64 shmem_pages;
	__u64 pgtables_bytes;
	__u64 memcg_usage_pages; /* the victim's memory cgroup at the kill (0: no memcg) */
	__u64 memcg_limit_pages; /* its limit (memory.max / memory.limit_in_bytes) */
	__u64 memcg_id;          /* kernfs id (inode) of the memory cgroup */
	__u32 victim_pid;        /* the thread marked */
	__u32 victim_tgid;
	__u32 trigger_pid;       /* the task current at mark_victim: the allocation that hit the OOM */
	__u32 trigger_tgid;
	__u32 uid;
	__s32 oom_score_adj;
	__u32 memcg_depth;       /* components filled in memcg_path (0: root or no memcg) */
	__u32 memcg_truncated;   /* 1: the path had more than OOM_MEMCG_DEPTH components */
	char victim_comm[16];
	char trigger_comm[16];
	char memcg_path[OOM_MEMCG_DEPTH][OOM_MEMCG_NAME_LEN]; /* [0] innermost */
};

/* Counted in the program itself, so a lost ring buffer record still shows as a kill. */
struct oom_counters {
	__u64 marks;       /* mark_victim calls seen */
	__u64 events_lost; /* ring buffer full: the kill is counted, its details are lost */
};

#endif

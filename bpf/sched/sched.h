/* The sched family's ABI: every struct the BPF program and the C++ loader both see.
 * Plain __u* types only; user/sched/sched_abi.h static_asserts the layout on the C++ side. */
#ifndef TRIAGE_SCHED_H
#define TRIAGE_SCHED_H

#include "common/hist.h"

/* What a task is waiting for. A run-queue wait and the three kinds of uninterruptible sleep that
 * count toward the load average, told apart by the flags the kernel sets while the task sleeps. */
enum sched_wait_kind {
	SCHED_WAIT_RUNQ = 0,    /* runnable, waiting for a CPU */
	SCHED_WAIT_D_IO = 1,    /* D state inside io_schedule() (task->in_iowait) */
	SCHED_WAIT_D_MEM = 2,   /* D state during a memory stall (task->in_memstall: reclaim, ...) */
	SCHED_WAIT_D_OTHER = 3, /* any other D state that counts toward the load (locks, ...) */
	SCHED_WAIT_KINDS = 4,
};

/* Per-CPU accumulators, all additive so that any CPU may add to its own copy and userspace sums
 * the copies. The number of tasks waiting of each kind integrated over time is
 *   area(T) = closed_ns + open * T - open_start_sum      (T and starts in ns since base_ns)
 * which is exact whatever CPU opened or closed a span, so the load decomposition needs no locks
 * and counts waits that are still open when it is read. Exception: in the tp_btf set a run-queue
 * wait that began at a wakeup is only known when it ends (the kernel's sched_info holds it until
 * then), so it enters closed_ns whole at switch-in, in the interval where it ended. */
struct sched_cpu_acc {
	__s64 open[SCHED_WAIT_KINDS];           /* spans opened minus closed on this CPU (may be < 0) */
	__s64 open_start_sum[SCHED_WAIT_KINDS]; /* sum of their start times, ns since base_ns */
	__u64 closed_ns[SCHED_WAIT_KINDS];      /* total length of closed spans */
	__u64 runq_wait_here_ns; /* run-queue waits that ended with a switch-in on this CPU */
	__u64 switches;
	__u64 wakeups;           /* raw_tp set only: the tp_btf set runs nothing at wakeups */
	__u64 events_produced;   /* outliers offered to the ring buffer */
	__u64 events_lost;       /* of those, dropped because the ring buffer was full */
	__u64 task_state_missing; /* per-task state could not be created (map full): untracked */
	__u64 proc_map_full;      /* write-backs to proc_stats that found it full: each loses a
				   * cached row, all its waits since it was last written back */
};

/* Latency histograms, per CPU, one per wait kind, in microseconds. */
struct sched_hists {
	struct triage_log2_hist by_kind[SCHED_WAIT_KINDS];
};

/* Per-process (thread group) totals, keyed by tgid. Updated from any CPU, so atomically; most
 * waits reach it through a CPU's write-back cache (struct sched_proc_cache). */
struct sched_proc_stats {
	__u64 total_ns[SCHED_WAIT_KINDS];
	__u64 count[SCHED_WAIT_KINDS];
	__u64 max_ns[SCHED_WAIT_KINDS];
	char comm[16]; /* the group leader's name */
};

/* Each CPU's write-back cache in front of proc_stats, direct-mapped by tgid: the waits of one
 * process add to its entry with plain adds, and the entry goes to proc_stats (one lookup, atomic
 * adds) only when another process takes its slot. The lookup and atomics were ~20 ns of a
 * ~120 ns sched_switch under the pipe workload. Userspace adds the caches to proc_stats, reading
 * proc_stats first: an entry written back between the two reads then shows one sample late,
 * never twice. */
#define SCHED_PROC_CACHE_SLOTS 64
struct sched_proc_cache_entry {
	__u32 tgid;
	__u32 used; /* 0: the slot is empty */
	struct sched_proc_stats stats;
};

struct sched_proc_cache {
	struct sched_proc_cache_entry entries[SCHED_PROC_CACHE_SLOTS];
};

/* A wait above the outlier threshold, streamed through the ring buffer for the timeline. */
struct sched_event {
	__u64 end_ns;      /* CLOCK_MONOTONIC (bpf_ktime_get_ns) at the end of the wait */
	__u64 duration_ns;
	__u32 pid;
	__u32 tgid;
	__u32 cpu;
	__u32 kind;        /* enum sched_wait_kind */
	__u32 waker_pid;   /* for D waits: the task that woke it (0 when unknown) */
	__u32 pad;
	char comm[16];
	char waker_comm[16];
};

/* How the per-task state tracks a task between events. */
enum sched_task_phase {
	SCHED_PHASE_UNKNOWN = 0, /* not seen since the probes attached */
	SCHED_PHASE_RUNNING = 1,
	SCHED_PHASE_QUEUED = 2,  /* an open run-queue span */
	SCHED_PHASE_BLOCKED = 3, /* an open D span of kind `kind` */
	SCHED_PHASE_SLEEPING = 4,/* a sleep that does not count toward the load */
};

/* Task states as the kernel's include/linux/sched.h defines them (stable ABI of the tracepoint). */
#define SCHED_TASK_RUNNING 0x0000
#define SCHED_TASK_UNINTERRUPTIBLE 0x0002
#define SCHED_TASK_DEAD 0x0080
#define SCHED_TASK_NOLOAD 0x0400
#define SCHED_TASK_FROZEN 0x8000 /* 6.1+: frozen tasks do not count toward the load */

#endif

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
 * which counts waits that are still open when it is read. Each span belongs to the CPU where it
 * opened (its owner: where the task was queued or went to sleep): a span that closes on another
 * CPU is taken out through struct sched_span_transfer of its owner, so each CPU's own area is the
 * waiting it saw, and the machine-wide load is exactly the sum of the per-CPU loads. Exception:
 * in the tp_btf set a run-queue wait that began at a wakeup is only known when it ends (the
 * kernel's sched_info holds it until then), so it enters closed_ns whole at switch-in, on the CPU
 * it ran on, in the interval where it ended. */
struct sched_cpu_acc {
	__s64 open[SCHED_WAIT_KINDS];           /* spans opened here minus closed here (may be < 0) */
	__s64 open_start_sum[SCHED_WAIT_KINDS]; /* sum of their start times, ns since base_ns */
	__u64 closed_ns[SCHED_WAIT_KINDS];      /* total length of closed spans */
	__u64 switches;
	__u64 wakeups;           /* raw_tp set only: the tp_btf set runs nothing at wakeups */
	__u64 events_produced;   /* outliers offered to the ring buffer */
	__u64 events_lost;       /* of those, dropped because the ring buffer was full */
	__u64 task_state_missing; /* per-task state could not be created (map full): untracked */
	__u64 proc_map_full;      /* write-backs to proc_stats that could create no row (full, or
				   * a bucket lock not taken: row_not_created()): each loses a
				   * cached row, all its waits since it was last written back */
	/* Repairs of the per-task state machine: a span whose closing event no program saw (a
	 * program that did not run, a nested tracepoint) is closed at the task's next event, or when
	 * the task is freed; none is ever left open to count as phantom load. */
	__u64 stale_spans_closed; /* closed at the task's next switch-out or missed wakeup */
	__u64 exit_spans_closed;  /* still open when the task was freed */
	__u64 runs_unattributed;  /* runs of a task without state (full map) whose switch-in no program saw: CPU time missing */
};

/* The part of spans opened on one CPU and closed on another, kept per owner CPU in a plain array
 * with atomic adds (migrations are the rare case; the common close stays a plain per-CPU add).
 * Userspace adds entry N to CPU N's struct sched_cpu_acc. */
struct sched_span_transfer {
	__s64 open[SCHED_WAIT_KINDS];
	__s64 open_start_sum[SCHED_WAIT_KINDS];
	__u64 closed_ns[SCHED_WAIT_KINDS];
	__u64 pad[4]; /* one 128-byte pair of cache lines per CPU: no false sharing between owners */
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
	__u64 oncpu_ns; /* CPU time of its threads' runs that ended in the window (se.sum_exec_runtime) */
	char comm[16];  /* the group leader's name */
};

/* Each CPU's write-back cache in front of proc_stats, direct-mapped by tgid: the waits of one
 * process add to its entry with plain adds, and the entry goes to proc_stats (one lookup, atomic
 * adds) only when another process takes its slot: the lookup and atomics were a sixth of
 * sched_switch's cost (design figure S1 in bench/RESULTS.md). Userspace adds the caches to proc_stats, reading
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

/* What one CPU runs now, indexed by CPU in a plain array (the seeding pass writes other CPUs'
 * entries): the switch-in notes the task and its se.sum_exec_runtime. The switch-out adds the
 * growth since the task last left a CPU (kept in its task state) to the process's oncpu_ns, so
 * this record is only the fallback for a task without state. Userspace adds the growth so far of the runs still going (from
 * /proc/<pid>/task/<tid>/schedstat), so a task that never leaves its CPU (a SCHED_FIFO spinner)
 * still shows its CPU time. */
struct sched_cpu_running {
	__u32 pid;  /* 0: idle, or not known since attach */
	__u32 tgid;
	__u64 exec_at_switch_in; /* se.sum_exec_runtime when it came onto the CPU (or was seeded) */
	__u64 pad[6];            /* one cache line per CPU */
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

/* A kernel stack of a task in D longer than the threshold, written by the stacks iterator
 * (sched_stacks.bpf.h) to its seq file, one record per task, read once per interval. Frames are
 * return addresses, innermost first; the deepest SCHED_STACK_DEPTH are kept (a D wait's story is
 * at the top of the stack: the wait, what it waits for, the syscall). */
#define SCHED_STACK_DEPTH 32
struct sched_stack_sample {
	__u32 pid;
	__u32 tgid;
	__u64 wait_ns;    /* the D wait so far, at the iterator's run */
	__u32 kind;       /* enum sched_wait_kind of the wait */
	__u32 nr_frames;  /* valid entries of ips */
	char comm[16];    /* the group leader's name */
	__u64 ips[SCHED_STACK_DEPTH];
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

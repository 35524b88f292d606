/* Part of sched.bpf.c: every map of the sched family and the per-task state they hold. Kept in
 * one place because the loader sizes several of them before load and reads them all; their order
 * here is the skeleton's order. */
#ifndef TRIAGE_SCHED_MAPS_BPF_H
#define TRIAGE_SCHED_MAPS_BPF_H

struct task_sched_state {
	__u64 since_ns; /* start of the open span, ns since base_ns */
	/* tp_btf set: the task's sched_info.run_delay when it last left a CPU (or was seeded), so
	 * that its next switch-in knows how long it has waited on run queues since then. */
	__u64 run_delay_out;
	__u8 phase;     /* enum sched_task_phase */
	__u8 kind;      /* enum sched_wait_kind of the open span */
	__u8 verdict;   /* filter: 0 not decided, 1 traced, 2 filtered out */
	__u8 has_run_delay_out;
	__u32 owner_cpu; /* where the open span was opened: its load belongs to that CPU */
	/* se.sum_exec_runtime up to which the task's CPU time has gone to its process: each
	 * switch-out adds the growth since, so a run whose switch-in no program saw is not lost. */
	__u64 exec_accounted;
	__u8 has_exec_accounted;
};

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct task_sched_state);
} task_states SEC(".maps");

/* raw_tp twin's per-task state: bounded; a full map is counted, never silently ignored. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, __u32);
	__type(value, struct task_sched_state);
} task_states_by_pid SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sched_cpu_acc);
} cpu_acc SEC(".maps");

/* Indexed by CPU; the loader sizes it to the possible CPUs (struct sched_cpu_running). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sched_cpu_running);
} cpu_running SEC(".maps");

/* se.sum_exec_runtime of every thread at attach, by tid, written once by the seeding pass: the
 * baseline for per-thread CPU time in the window (threads born later start from 0). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, __u32);
	__type(value, __u64);
} thread_exec_at_start SEC(".maps");

/* Indexed by owner CPU; the loader sizes it to the possible CPUs. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sched_span_transfer);
} span_transfers SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sched_hists);
} hists SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, struct sched_proc_stats);
} proc_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sched_proc_cache);
} proc_cache SEC(".maps");

#define SCHED_RING_BYTES (4 << 20) /* ~50k records: rides out a consumer that waits 250 ms for a CPU at 200k events/s */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, SCHED_RING_BYTES);
} events SEC(".maps");

#endif /* TRIAGE_SCHED_MAPS_BPF_H */

/* The block family's ABI: every struct the BPF program and the C++ loader both see.
 * Plain __u* types only; user/block/block_abi.h static_asserts the layout on the C++ side. */
#ifndef TRIAGE_BLOCK_H
#define TRIAGE_BLOCK_H

#include "common/hist.h"

/* Operation groups as /proc/diskstats counts them (the kernel's op_stat_group()): discard on its
 * own, flush on its own, then anything that writes (write, write-zeroes, secure erase, zone
 * append) as a write and the rest as a read. */
enum block_op {
	BLOCK_OP_READ = 0,
	BLOCK_OP_WRITE = 1,
	BLOCK_OP_FLUSH = 2,
	BLOCK_OP_DISCARD = 3,
	BLOCK_OPS = 4,
};

/* Per device and operation. dev is the kernel's dev_t of the whole disk: major << 20 | minor. */
struct block_stats_key {
	__u32 dev;
	__u32 op; /* enum block_op */
};

/* Per-CPU, so no atomics: userspace sums the copies. Latencies in us, sizes in bytes. */
struct block_stats {
	__u64 count; /* completed requests whose issue was seen */
	__u64 bytes;
	struct triage_log2_hist latency;       /* issue -> complete (device time) */
	struct triage_log2_hist queue_latency; /* insert -> issue (scheduler time; only when inserted) */
	struct triage_log2_hist size;          /* request size */
};

/* Per process (thread group) and device. Updated from any CPU, so atomically; most completions
 * reach it through a CPU's write-back cache (struct block_proc_cache). */
struct block_proc_key {
	__u32 tgid;
	__u32 dev;
};

struct block_proc_stats {
	__u64 total_ns; /* submit (insert, else issue) -> complete: what the process waited for */
	__u64 count;
	__u64 bytes;
	char comm[16];  /* the submitting thread's name when the row was created */
};

/* Each CPU's write-back cache in front of proc_stats, direct-mapped by (tgid, dev): completions of
 * one process on one device add to their entry with plain adds, and the entry goes to proc_stats
 * (one lookup, three atomic adds) only when another key takes its slot. The lookup and atomics
 * were ~70 ns of a ~260 ns completion under fio. Userspace adds the caches to proc_stats, reading
 * proc_stats first: an entry written back between the two reads then shows one sample late,
 * never twice. */
#define BLOCK_PROC_CACHE_SLOTS 64
struct block_proc_cache_entry {
	struct block_proc_key key;
	struct block_proc_stats stats; /* count 0: the slot is empty */
};

struct block_proc_cache {
	struct block_proc_cache_entry entries[BLOCK_PROC_CACHE_SLOTS];
};

/* Counters, per CPU. */
struct block_cpu_counters {
	__u64 inserts;
	__u64 issues;
	__u64 completions;          /* requests fully completed and paired with their issue */
	__u64 partial_completions;  /* a part of a request completed; the rest follows */
	__u64 unpaired_completions; /* no issue seen, not a flush: mostly the second completion of a
	                             * write that carried a flush (the block layer ends it again when
	                             * the flush is done), or a request in flight at attach */
	__u64 dropped_requests;     /* no in-flight row could be created (row_not_created()): the request is not tracked */
	__u64 stats_map_full;       /* a new device/op row could not be created */
	__u64 proc_map_full;        /* a new process/device row could not be created */
	__u64 events_produced;      /* outliers offered to the ring buffer */
	__u64 events_lost;          /* of those, dropped because the ring buffer was full */
	/* Flushes completed by the kernel without an issue of their own: the block layer serves a
	 * flush with its own flush request (issued, counted in the flush row) and then ends the
	 * caller's, or ends it at once when the device has no write cache. Not data lost. */
	__u64 unissued_flushes;
};

/* A request slower than the outlier threshold (issue -> complete), for the timeline. */
struct block_event {
	__u64 end_ns;     /* CLOCK_MONOTONIC at completion */
	__u64 latency_ns; /* issue -> complete */
	__u64 queue_ns;   /* insert -> issue, 0 when not inserted */
	__u64 sector;
	__u32 bytes;
	__u32 dev;
	__u32 op;         /* enum block_op */
	__u32 pid;        /* submitting thread */
	__u32 tgid;
	__u32 error;      /* blk_status_t, 0 = ok */
	char comm[16];
};

#endif

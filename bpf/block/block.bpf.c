// SPDX-License-Identifier: GPL-2.0
/* The block family: per-device latency, queue time, sizes and who submitted the I/O.
 *
 * A request is followed through three tracepoints, keyed by its `struct request *` address in a
 * set-associative table with a bounded hash behind it: block_rq_insert (into the I/O scheduler:
 * remember the submitter and the time), block_rq_issue (to the driver: the submitter when there
 * was no insert, since blk-mq often issues directly) and block_rq_complete (latency issue ->
 * complete into the per-CPU histograms, totals per process, outliers through the ring buffer).
 *
 * rq->io_start_time_ns is not used: the kernel only sets it while blk stats are on (a cgroup io
 * controller, wbt, iostats...), so it would silently read 0 on other machines.
 *
 * Every handler exists twice: a tp_btf program and a raw_tp twin; userspace loads one set, chosen
 * by trying the kernel. They share the handlers: the tp_btf set reads the request with plain
 * loads, the raw_tp set through bpf_probe_read_kernel, both relocated by CO-RE.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "common/bits.bpf.h"
#include "common/core_fixes.bpf.h"
#include "common/filter.bpf.h"
#include "common/maps.bpf.h"
#include "block/block.h"


char LICENSE[] SEC("license") = "GPL";

/* Set by the loader before load; constant for the verifier, so unused branches are pruned. */
const volatile __u64 outlier_threshold_ns = 100 * 1000 * 1000;
/* Before 5.11 block_rq_insert and block_rq_issue took (q, rq); since then (rq). The loader counts
 * the arguments of btf_trace_block_rq_insert and sets this. */
const volatile bool insert_issue_have_queue_arg = false;

/* Request operation codes (include/linux/blk_types.h, enum req_op: stable values). */
#define REQ_OP_MASK 0xff
#define REQ_OP_READ 0
#define REQ_OP_FLUSH 2
#define REQ_OP_DISCARD 3

/* The life of one request. Addresses are reused (requests are preallocated per tag set), which
 * is what keeps a request we never see complete (merged away by the scheduler) from leaking: the
 * next insert or issue of the same address (same set) replaces it. */
struct request_state {
	__u64 submit_ns; /* insert, or issue when there was no insert */
	__u64 insert_ns; /* 0: not inserted (direct issue) */
	__u64 issue_ns;  /* 0: not issued yet */
	__u64 bytes_done;/* partial completions so far */
	__u32 pid;
	__u32 tgid;
	__u32 traced;    /* 0: filtered out by -p / --cgroup, completes silently */
	__u32 pad;
	char comm[16];
};

/* Requests in flight: a 4-way set-associative table indexed by a hash of the request's address,
 * read and written with plain loads and stores. A hash map update at issue and a delete at
 * completion cost ~110 ns of a ~440 ns request under fio; a set's four ways cost a few loads.
 * A request whose set is full goes to the `requests` hash instead, and from then on every lookup
 * also tries the hash (overflow_used), so nothing is lost to the table's shape. There are no
 * atomics to claim a way with on 5.10: two CPUs that take the same free way at the same instant
 * lose one request's pairing, which then completes unpaired and is counted so. Shrunk to a single
 * set under two fio jobs, the table lost 7 of 452k requests that way; at full size the unpaired
 * count stayed at its baseline in 12 such runs. */
#define REQUEST_WAYS 4
#define REQUEST_SETS 4096 /* x 4 ways x 80 B: 1.3 MB, beside the hash's preallocated 2 MB */
struct request_slot {
	__u64 rq; /* the request's address; 0: free */
	struct request_state st;
};

struct request_set {
	struct request_slot ways[REQUEST_WAYS];
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, REQUEST_SETS);
	__type(key, __u32);
	__type(value, struct request_set);
} request_sets SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, struct request_state);
} requests SEC(".maps");

/* Set once a request went to the hash; never cleared (the hash may hold it until it completes). */
bool overflow_used = false;

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 1024);
	__type(key, struct block_stats_key);
	__type(value, struct block_stats);
} stats SEC(".maps");

/* A zeroed value to create stats rows from: struct block_stats is larger than the BPF stack. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct block_stats);
} zero_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, struct block_proc_key);
	__type(value, struct block_proc_stats);
} proc_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct block_proc_cache);
} proc_cache SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct block_cpu_counters);
} counters SEC(".maps");

#define BLOCK_RING_BYTES (1 << 20)
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, BLOCK_RING_BYTES);
} events SEC(".maps");

static __always_inline struct block_cpu_counters *this_cpu_counters(void)
{
	__u32 zero = 0;
	return bpf_map_lookup_elem(&counters, &zero);
}

/* Filters apply to the submitter: the process whose I/O it is. */
static __always_inline bool current_traced(void)
{
	if (!filter_active())
		return true;
	return task_matches_filter((struct task_struct *)bpf_get_current_task());
}

/* Request fields through TYPED_FIELD (common/bits.bpf.h): plain loads in the tp_btf set, where
 * the six bpf_probe_read_kernel calls they replace cost ~40 ns of every completion (complete_btf
 * 295 -> 254 ns/run under fio); btf = false in the raw_tp twins. */
#define RQ_FIELD(btf, ptr, field) TYPED_FIELD(btf, ptr, field)

static __always_inline __u32 request_dev(struct request *rq, bool btf)
{
	struct gendisk *disk = request_disk(rq, btf);

	if (!disk)
		return 0;
	/* The kernel's MKDEV: 12 bits of major above 20 bits of minor. */
	return ((__u32)RQ_FIELD(btf, disk, major) << 20) | (__u32)RQ_FIELD(btf, disk, first_minor);
}

static __always_inline __u32 request_op(struct request *rq, bool btf)
{
	__u32 op = RQ_FIELD(btf, rq, cmd_flags) & REQ_OP_MASK;

	if (op == REQ_OP_READ)
		return BLOCK_OP_READ;
	if (op == REQ_OP_FLUSH)
		return BLOCK_OP_FLUSH;
	if (op == REQ_OP_DISCARD)
		return BLOCK_OP_DISCARD;
	/* Odd operations write (op_is_write()); the remaining even ones (driver-private, zone
	 * management) are counted as reads, as /proc/diskstats does. */
	return (op & 1) ? BLOCK_OP_WRITE : BLOCK_OP_READ;
}

static __always_inline void remember_submitter(struct request_state *st, __u64 now)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();

	st->submit_ns = now;
	st->pid = (__u32)pid_tgid;
	st->tgid = pid_tgid >> 32;
	st->traced = current_traced();
	bpf_get_current_comm(&st->comm, sizeof(st->comm));
}

/* The request's address as a number: a tp_btf argument is a typed pointer, on which the verifier
 * allows no arithmetic but + and -, so its value is copied out through the stack to be hashed. */
static __always_inline __u64 request_addr(struct request *rq, bool btf)
{
	__u64 ptr = (__u64)rq, addr = ptr;

	if (btf)
		bpf_probe_read_kernel(&addr, sizeof(addr), &ptr);
	return addr;
}

static __always_inline struct request_set *request_set_of(__u64 addr)
{
	/* Requests are cache-line aligned: drop those bits, then Fibonacci hashing. */
	__u32 set = (__u32)(((addr >> 6) * 0x9E3779B97F4A7C15ULL) >> 52) & (REQUEST_SETS - 1);

	return bpf_map_lookup_elem(&request_sets, &set);
}

/* The state of a request in flight, from its set or (after an overflow) the hash; NULL if not
 * followed. *slot: its way in the set (NULL if from the hash); *free_way: a free way of the set. */
static __always_inline struct request_state *request_find(__u64 rq, struct request_slot **slot,
							  struct request_slot **free_way)
{
	struct request_set *set = request_set_of(rq);
	int found = -1, free = -1;

	*slot = NULL;
	*free_way = NULL;
	if (set) {
#pragma unroll
		for (int w = 0; w < REQUEST_WAYS; w++) {
			__u64 tag = set->ways[w].rq;

			if (tag == rq)
				found = w;
			else if (tag == 0 && free < 0)
				free = w;
		}
		/* Indices rather than pointers chosen in the loop: the verifier follows these. */
		if (free >= 0)
			*free_way = &set->ways[free & (REQUEST_WAYS - 1)];
		if (found >= 0) {
			*slot = &set->ways[found & (REQUEST_WAYS - 1)];
			return &(*slot)->st;
		}
	}
	return overflow_used ? bpf_map_lookup_elem(&requests, &rq) : NULL;
}

/* Starts following a request: in place of a stale state, in a free way, or in the hash. */
static __always_inline void request_track(__u64 rq, struct request_state *stale, struct request_slot *free_way,
					  const struct request_state *fresh, struct block_cpu_counters *c)
{
	if (stale) {
		*stale = *fresh;
	} else if (free_way) {
		free_way->st = *fresh;
		/* Last (kept there by the compiler barrier; x86 keeps stores in order): the way is
		 * taken once its state is written. */
		asm volatile("" ::: "memory");
		free_way->rq = rq;
	} else if (row_not_created(bpf_map_update_elem(&requests, &rq, fresh, BPF_ANY))) {
		c->dropped_requests++;
	} else {
		overflow_used = true;
	}
}

/* Done with a request: its way is free again (after the caller has read its state). */
static __always_inline void request_forget(__u64 rq, struct request_slot *slot)
{
	asm volatile("" ::: "memory"); /* the caller's reads of the state stay before the release */
	if (slot)
		slot->rq = 0;
	else
		bpf_map_delete_elem(&requests, &rq);
}

static __always_inline void on_insert(struct request *rq, bool btf)
{
	__u64 key = request_addr(rq, btf), now = bpf_ktime_get_ns();
	struct block_cpu_counters *c = this_cpu_counters();
	struct request_slot *slot, *free_way;
	struct request_state *st;

	if (!c)
		return;
	c->inserts++;
	st = request_find(key, &slot, &free_way);
	if (st && st->issue_ns) {
		/* Issued before and inserted again: a requeue. The request keeps its submitter (the
		 * requeue runs in a kworker) and its submit time; only the dispatch starts over. */
		st->insert_ns = now;
		st->issue_ns = 0;
		return;
	}
	struct request_state fresh = {};
	remember_submitter(&fresh, now);
	fresh.insert_ns = now;
	request_track(key, st, free_way, &fresh, c);
}

static __always_inline void on_issue(struct request *rq, bool btf)
{
	__u64 key = request_addr(rq, btf), now = bpf_ktime_get_ns();
	struct block_cpu_counters *c = this_cpu_counters();
	struct request_slot *slot, *free_way;
	struct request_state *st;

	if (!c)
		return;
	c->issues++;
	st = request_find(key, &slot, &free_way);
	if (st && st->insert_ns && !st->issue_ns) {
		st->issue_ns = now;
		return;
	}
	/* Issued directly (no scheduler, or blk-mq's direct issue) or a stale entry of a reused
	 * address: the current task is the submitter, and the request starts here. */
	struct request_state fresh = {};
	remember_submitter(&fresh, now);
	fresh.issue_ns = now;
	request_track(key, st, free_way, &fresh, c);
}

/* Adds to the shared per-process row, creating it (named `add`'s comm) the first time. */
static __always_inline void proc_stats_add(const struct block_proc_key *key, const struct block_proc_stats *add,
					   struct block_cpu_counters *c)
{
	struct block_proc_stats *ps = bpf_map_lookup_elem(&proc_stats, key);

	if (!ps) {
		struct block_proc_stats fresh = {};
		__builtin_memcpy(fresh.comm, add->comm, sizeof(fresh.comm));
		if (row_not_created(bpf_map_update_elem(&proc_stats, key, &fresh, BPF_NOEXIST))) {
			c->proc_map_full++;
			return;
		}
		ps = bpf_map_lookup_elem(&proc_stats, key);
		if (!ps)
			return;
	}
	__sync_fetch_and_add(&ps->total_ns, add->total_ns);
	__sync_fetch_and_add(&ps->count, add->count);
	__sync_fetch_and_add(&ps->bytes, add->bytes);
}

/* One completed request for its submitter, through this CPU's write-back cache (block.h). */
static __always_inline void account_process(struct request_state *st, __u32 dev, __u64 bytes, __u64 now,
					    struct block_cpu_counters *c)
{
	struct block_proc_key key = {.tgid = st->tgid, .dev = dev};
	__u64 wait_ns = now > st->submit_ns ? now - st->submit_ns : 0;
	struct block_proc_cache_entry *e;
	struct block_proc_cache *cache;
	__u32 zero = 0, i;

	cache = bpf_map_lookup_elem(&proc_cache, &zero);
	if (!cache) {
		struct block_proc_stats one = {.total_ns = wait_ns, .count = 1, .bytes = bytes};
		__builtin_memcpy(one.comm, st->comm, sizeof(one.comm));
		proc_stats_add(&key, &one, c);
		return;
	}
	i = key.tgid ^ key.dev ^ (key.dev >> 20);
	/* The bound restated as a mask the verifier keeps (as in hist_add). */
	asm volatile("" : "+r"(i));
	e = &cache->entries[i & (BLOCK_PROC_CACHE_SLOTS - 1)];
	if (e->stats.count && (e->key.tgid != key.tgid || e->key.dev != key.dev)) {
		proc_stats_add(&e->key, &e->stats, c);
		e->stats.count = 0;
	}
	if (!e->stats.count) {
		e->key = key;
		e->stats.total_ns = 0;
		e->stats.bytes = 0;
		__builtin_memcpy(e->stats.comm, st->comm, sizeof(e->stats.comm));
	}
	e->stats.total_ns += wait_ns;
	e->stats.bytes += bytes;
	e->stats.count++;
}

static __always_inline void emit_outlier(struct request *rq, struct request_state *st, __u32 dev, __u32 op,
					 __u64 bytes, __u64 latency_ns, __u64 queue_ns, __u64 now, __u32 error,
					 struct block_cpu_counters *c)
{
	struct block_event *e;

	c->events_produced++;
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		c->events_lost++;
		return;
	}
	e->end_ns = now;
	e->latency_ns = latency_ns;
	e->queue_ns = queue_ns;
	e->sector = BPF_CORE_READ(rq, __sector);
	e->bytes = bytes;
	e->dev = dev;
	e->op = op;
	e->pid = st->pid;
	e->tgid = st->tgid;
	e->error = error;
	__builtin_memcpy(e->comm, st->comm, sizeof(e->comm));
	bpf_ringbuf_submit(e, ringbuf_batch_flags(&events, BLOCK_RING_BYTES, sizeof(*e)));
}

static __always_inline struct block_stats *stats_row(__u32 dev, __u32 op, struct block_cpu_counters *c)
{
	struct block_stats_key key = {.dev = dev, .op = op};
	struct block_stats *s = bpf_map_lookup_elem(&stats, &key);
	__u32 zero = 0;

	if (s)
		return s;
	struct block_stats *empty = bpf_map_lookup_elem(&zero_stats, &zero);
	if (!empty)
		return NULL;
	if (row_not_created(bpf_map_update_elem(&stats, &key, empty, BPF_NOEXIST))) {
		c->stats_map_full++;
		return NULL;
	}
	return bpf_map_lookup_elem(&stats, &key);
}

static __always_inline void on_complete(struct request *rq, __u32 error, __u32 nr_bytes, bool btf)
{
	__u64 key = request_addr(rq, btf), now = bpf_ktime_get_ns();
	struct block_cpu_counters *c = this_cpu_counters();
	struct request_slot *slot, *free_way;
	struct request_state *st;

	if (!c)
		return;
	st = request_find(key, &slot, &free_way);
	/* A completion whose issue we did not see has no latency: the original of a flush the
	 * kernel served with its own flush request, the second completion of a write that carried a
	 * flush (ended again once the flush is done, its state already forgotten), or a request in
	 * flight when we attached. */
	if (!st || !st->issue_ns) {
		if (request_op(rq, btf) == BLOCK_OP_FLUSH)
			c->unissued_flushes++;
		else
			c->unpaired_completions++;
		if (st)
			request_forget(key, slot);
		return;
	}
	/* The tracepoint fires before the kernel updates the request: fewer bytes than remain means
	 * only a part completed, and the request goes on (drivers that complete in pieces). */
	__u32 remaining = RQ_FIELD(btf, rq, __data_len);
	if (nr_bytes < remaining) {
		c->partial_completions++;
		st->bytes_done += nr_bytes;
		return;
	}
	struct request_state done = *st;
	request_forget(key, slot);
	if (!done.traced)
		return;
	c->completions++;

	__u32 dev = request_dev(rq, btf), op = request_op(rq, btf);
	__u64 bytes = done.bytes_done + nr_bytes;
	__u64 latency_ns = now - done.issue_ns;
	__u64 queue_ns = done.insert_ns && done.issue_ns > done.insert_ns ? done.issue_ns - done.insert_ns : 0;

	struct block_stats *s = stats_row(dev, op, c);
	if (s) {
		s->count++;
		s->bytes += bytes;
		hist_add(&s->latency, latency_ns / 1000);
		if (done.insert_ns)
			hist_add(&s->queue_latency, queue_ns / 1000);
		hist_add(&s->size, bytes);
	}
	account_process(&done, dev, bytes, now, c);
	if (latency_ns >= outlier_threshold_ns)
		emit_outlier(rq, &done, dev, op, bytes, latency_ns, queue_ns, now, error, c);
}

static __always_inline struct request *insert_issue_rq(unsigned long long *ctx)
{
	return (struct request *)(insert_issue_have_queue_arg ? ctx[1] : ctx[0]);
}

/* ---- tp_btf set ---- */

SEC("tp_btf/block_rq_insert")
int BPF_PROG(insert_btf)
{
	on_insert(insert_issue_rq(ctx), true);
	return 0;
}

SEC("tp_btf/block_rq_issue")
int BPF_PROG(issue_btf)
{
	on_issue(insert_issue_rq(ctx), true);
	return 0;
}

SEC("tp_btf/block_rq_complete")
int BPF_PROG(complete_btf, struct request *rq, int error, unsigned int nr_bytes)
{
	on_complete(rq, error, nr_bytes, true);
	return 0;
}

/* ---- raw_tp set: the same handlers, arguments untyped ---- */

SEC("raw_tp/block_rq_insert")
int BPF_PROG(insert_raw)
{
	on_insert(insert_issue_rq(ctx), false);
	return 0;
}

SEC("raw_tp/block_rq_issue")
int BPF_PROG(issue_raw)
{
	on_issue(insert_issue_rq(ctx), false);
	return 0;
}

SEC("raw_tp/block_rq_complete")
int BPF_PROG(complete_raw, struct request *rq, int error, unsigned int nr_bytes)
{
	on_complete(rq, error, nr_bytes, false);
	return 0;
}

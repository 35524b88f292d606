// SPDX-License-Identifier: GPL-2.0
/* The tcp family: connection state transitions, connect latency, lifetimes, who closes first,
 * retransmits (segments, RTO, srtt, backoff) and listen-overflow drops, all from tracepoints.
 *
 * Everything is attributed to the socket, never to the current task: on loopback the server's
 * transitions run in the client's context, and retransmits run from timers in softirq.
 * Per-socket state lives in a bounded hash keyed by the sock pointer; it is created on the first
 * transition we see and removed at TCP_CLOSE (every full socket ends there, including the ones a
 * TIME_WAIT mini socket takes over from).
 *
 * Every handler exists twice: a tp_btf program (typed arguments) and a raw_tp twin for kernels
 * whose verifier or BTF refuse the first set. Userspace loads one set, chosen by trying the kernel.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include "common/bits.bpf.h"
#include "common/filter.bpf.h"
#include "common/maps.bpf.h"
#include "tcp/tcp.h"

#define AF_INET 2
#define AF_INET6 10
#define IPPROTO_TCP 6
#define TCPHDR_SYN 0x02

char LICENSE[] SEC("license") = "GPL";

/* The kernel's HZ, for icsk_rto in jiffies. Set by the loader from /proc/config.gz or
 * /boot/config-*: not a __kconfig extern, because libbpf then refuses to load the whole object
 * on a machine without a kernel config file (containers, minimal images), weak or not. */
const volatile __u32 kernel_hz = 250;
/* 6.17 added `err` to tcp_retransmit_skb and fires it for failed retransmits too. */
const volatile bool retransmit_has_err = false;
/* 6.11 added rx_sk to kfree_skb; before that the listener is skb->sk (often NULL). */
const volatile bool kfree_skb_has_rx_sk = false;
/* The enum value of SKB_DROP_REASON_TCP_LISTEN_OVERFLOW on this kernel, 0: not known here. */
const volatile __u32 listen_overflow_reason = 0;
/* -p / --cgroup (bpf/common/filter.bpf.h) apply to the socket's owner (struct tcp_owner): with a
 * filter set only sockets whose owner is known and matches are tracked at all. */

/* Preallocated here; the loader switches it to run-time allocation on kernels with bpf_mem_alloc
 * (see TcpFamily::load). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64); /* the struct sock pointer */
	__type(value, struct tcp_sock_state);
} sock_states SEC(".maps");

/* Per-port aggregates. A shared hash entry per port cost 80-120 ns per transition on the churn
 * benchmark: the hash lookup, and its cache lines bouncing between the CPUs that run the client's
 * and the server's transitions of the same port. So a socket finds its port's slot once, when it is
 * first seen, and each transition then updates this CPU's copy of that slot by index, with plain
 * adds: only inet_sock_set_state writes it, and the kernel never nests a program on a CPU. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, TCP_PORT_SLOTS_MAX); /* the loader lowers it on machines with many CPUs */
	__type(key, __u32);
	__type(value, struct tcp_port_stats);
} port_stats SEC(".maps");

/* key -> slot, looked up once per socket. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, TCP_PORT_SLOTS_MAX);
	__type(key, struct tcp_port_key);
	__type(value, __u32);
} port_slots SEC(".maps");

/* slot -> key: a slot is taken by inserting it here (BPF_NOEXIST is the only atomic claim that
 * 5.10 offers: fetching atomics arrived in 5.12). What userspace reads the slots by. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, TCP_PORT_SLOTS_MAX);
	__type(key, __u32);
	__type(value, struct tcp_port_key);
} slot_claims SEC(".maps");

/* The slots port_stats really has (its max_entries as loaded), and where to try the next claim. */
const volatile __u32 port_slot_count = TCP_PORT_SLOTS_MAX;
__u32 port_slot_hint;

/* The ports this CPU saw connections born to, with the role and slot they are counted under, so
 * that FIN_WAIT1 and CLOSE_WAIT find a socket's aggregate from the socket's own tuple instead of
 * its state in sock_states. Those two transitions follow a process waking from a wait, and reading
 * the per-socket state there cost 300-450 ns per read on the churn benchmark, against ~30 ns at
 * ESTABLISHED or CLOSE (bench_floor --state-lookups); this CPU's own memory did not show that
 * cost. Direct-mapped: a collision, or a port only ever born on another CPU, is a miss, and a miss
 * reads the per-socket state as before. Only this CPU writes its copy. */
#define TCP_PORT_CACHE_SLOTS 256
struct tcp_port_cache_entry {
	__u32 netns;
	__u16 port;
	__u8 role;
	__u8 pad;
	__u32 port_slot; /* the aggregate's slot + 1; 0: empty */
	__u32 pad2;
};

struct tcp_port_cache {
	struct tcp_port_cache_entry entries[TCP_PORT_CACHE_SLOTS];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct tcp_port_cache);
} port_cache SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8192);
	__type(key, struct tcp_flow_key);
	__type(value, struct tcp_flow_stats);
} flow_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, struct tcp_listener_key);
	__type(value, __u64);
} listen_drops SEC(".maps");

/* Listener owners by (netns, port), for the passive children born in softirq context. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, struct tcp_listener_key);
	__type(value, struct tcp_owner);
} listener_owners SEC(".maps");

/* FINs that left a request unanswered, by flow (struct tcp_fin_info). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct tcp_flow_key);
	__type(value, struct tcp_fin_info);
} fin_pending SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct tcp_cpu_counters);
} counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct tcp_hists);
} hists SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct tcp_transition_matrix);
} transitions SEC(".maps");

#define TCP_RING_BYTES (1 << 18)
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, TCP_RING_BYTES);
} events SEC(".maps");

static __always_inline struct tcp_cpu_counters *this_cpu_counters(void)
{
	__u32 zero = 0;
	return bpf_map_lookup_elem(&counters, &zero);
}

static __always_inline struct tcp_hists *this_cpu_hists(void)
{
	__u32 zero = 0;
	return bpf_map_lookup_elem(&hists, &zero);
}

static __always_inline __u32 jiffies_to_ms(__u64 jiffies)
{
	return kernel_hz ? (__u32)(jiffies * 1000 / kernel_hz) : 0;
}

static __always_inline bool filtering(void)
{
	return filter_active();
}

/* The current task as a socket's owner. Call only where the kernel runs in the owner's context. */
static __always_inline void current_owner(struct tcp_owner *o)
{
	o->tgid = bpf_get_current_pid_tgid() >> 32;
	bpf_get_current_comm(o->comm, sizeof(o->comm));
	o->traced = task_matches_filter((struct task_struct *)bpf_get_current_task()) ? 1 : 2;
}

/* A passive child's owner: its listener's, captured at listen(); left unknown if not seen. */
static __always_inline void listener_owner(__u32 netns, __u16 port, struct tcp_owner *o)
{
	struct tcp_listener_key lk = {.netns = netns, .port = port};
	struct tcp_owner *found = bpf_map_lookup_elem(&listener_owners, &lk);

	if (found)
		*o = *found;
}

/* With a filter set: is this full socket's owner known and traced? (One lookup, filters only.) */
static __always_inline bool sock_traced(const struct sock *sk)
{
	__u64 key = (__u64)sk;
	struct tcp_sock_state *st;

	if (!filtering())
		return true;
	st = bpf_map_lookup_elem(&sock_states, &key);
	return st && st->owner.traced == 1;
}

/* A jiffies stamp of the socket (tcp_jiffies32) as CLOCK_MONOTONIC ns, to a jiffy. */
static __always_inline __u64 jiffies_stamp_ns(__u32 stamp, __u64 now_ns)
{
	__u32 hz = kernel_hz;
	__u32 ago = (__u32)bpf_jiffies64() - stamp;
	__u64 ago_ns;

	if (!hz || (__s32)ago < 0)
		return now_ns;
	ago_ns = (__u64)ago * (1000000000ULL / hz);
	return now_ns > ago_ns ? now_ns - ago_ns : 0;
}

/* Socket fields through TYPED_FIELD (common/bits.bpf.h): plain loads in the tp_btf
 * inet_sock_set_state, which runs ~10 times per connection; the raw_tp twin and the cold paths
 * that may see request or NULL sockets pass btf = false. */
#define SK_FIELD(btf, ptr, field) TYPED_FIELD(btf, ptr, field)

/* Last data sent and received on a full socket, and whether the last was a send (a request
 * unanswered). Zero-cost on the hot path: the kernel keeps both stamps for its own use. */
static __always_inline bool last_data_times(const struct sock *sk, __u64 now, __u64 *sent_ns, __u64 *recv_ns)
{
	const struct tcp_sock *tp = (const struct tcp_sock *)sk;
	const struct inet_connection_sock *icsk = (const struct inet_connection_sock *)sk;
	__u64 bytes_sent = BPF_CORE_READ(tp, bytes_sent);
	__u64 bytes_received = BPF_CORE_READ(tp, bytes_received);
	__u32 lsnd = BPF_CORE_READ(tp, lsndtime);
	__u32 lrcv = BPF_CORE_READ(icsk, icsk_ack.lrcvtime);

	*sent_ns = bytes_sent ? jiffies_stamp_ns(lsnd, now) : 0;
	*recv_ns = jiffies_stamp_ns(lrcv, now); /* set at the handshake too */
	/* Same jiffy: answered, unless nothing ever came back (connect, send at once). */
	return bytes_sent && (!bytes_received || (__s32)(lsnd - lrcv) > 0);
}

static __always_inline __u32 netns_of(const struct sock *sk, bool btf)
{
	return btf ? sk->__sk_common.skc_net.net->ns.inum : BPF_CORE_READ(sk, __sk_common.skc_net.net, ns.inum);
}

/* The socket's 4-tuple, local side first; ports in host byte order. Works on request socks too:
 * they start with the same struct sock_common. */
static __always_inline void read_tuple(const struct sock_common *skc, __u16 *family, __u8 *laddr,
				       __u8 *raddr, __u16 *lport, __u16 *rport, bool btf)
{
	*family = SK_FIELD(btf, skc, skc_family);
	*lport = SK_FIELD(btf, skc, skc_num);
	*rport = bpf_ntohs(SK_FIELD(btf, skc, skc_dport));
	if (btf && *family == AF_INET6) {
		__builtin_memcpy(laddr, skc->skc_v6_rcv_saddr.in6_u.u6_addr8, 16);
		__builtin_memcpy(raddr, skc->skc_v6_daddr.in6_u.u6_addr8, 16);
	} else if (btf) {
		*(__u32 *)laddr = skc->skc_rcv_saddr;
		*(__u32 *)raddr = skc->skc_daddr;
	} else if (*family == AF_INET6) {
		BPF_CORE_READ_INTO(laddr, skc, skc_v6_rcv_saddr.in6_u.u6_addr8);
		BPF_CORE_READ_INTO(raddr, skc, skc_v6_daddr.in6_u.u6_addr8);
	} else {
		BPF_CORE_READ_INTO((__u32 *)laddr, skc, skc_rcv_saddr);
		BPF_CORE_READ_INTO((__u32 *)raddr, skc, skc_daddr);
	}
}

/* The socket's ports, local first, in host byte order: all the per-socket state keeps of the
 * tuple (the port aggregate's key); resets and FINs read the full tuple from the socket. */
static __always_inline void read_ports(const struct sock_common *skc, __u16 *lport, __u16 *rport, bool btf)
{
	*lport = SK_FIELD(btf, skc, skc_num);
	*rport = bpf_ntohs(SK_FIELD(btf, skc, skc_dport));
}

/* The port aggregate's slot for this socket, + 1 (0: none). Called once per socket, and again
 * if a listener's port was bound after the socket was first seen. */
static __always_inline __u32 port_slot_of(const struct tcp_sock_state *st, struct tcp_cpu_counters *cnt)
{
	struct tcp_port_key key = {}, *owner;
	__u32 *found, slot;

	key.netns = st->netns;
	key.role = st->role;
	if (st->role == TCP_ROLE_CLIENT)
		key.port = st->rport;
	else if (st->role == TCP_ROLE_UNKNOWN)
		/* Born before the window: the service port is usually the lower of the two, the other
		 * being ephemeral (ip_local_port_range starts at 32768). */
		key.port = st->lport < st->rport ? st->lport : st->rport;
	else
		key.port = st->lport;
	found = bpf_map_lookup_elem(&port_slots, &key);
	if (found)
		return *found + 1;

	/* A new port: claim the next free slot. The hint is shared without atomics, so two CPUs may
	 * try the same slot; the loser moves on, or takes it if the winner claimed it for this key.
	 * Two claims for one key (both read the hint, one after the other's claim) only split its
	 * counts over two slots, which userspace adds up. */
	slot = port_slot_hint;
	for (int i = 0; i < 8; i++, slot++) {
		if (slot >= port_slot_count)
			break;
		if (bpf_map_update_elem(&slot_claims, &slot, &key, BPF_NOEXIST) == 0) {
			port_slot_hint = slot + 1;
			bpf_map_update_elem(&port_slots, &key, &slot, BPF_ANY);
			return slot + 1;
		}
		owner = bpf_map_lookup_elem(&slot_claims, &slot);
		if (owner && owner->netns == key.netns && owner->port == key.port && owner->role == key.role)
			return slot + 1;
	}
	port_slot_hint = slot;
	cnt->port_map_full++;
	return 0;
}

static __always_inline struct tcp_port_stats *port_stats_at(__u32 port_slot)
{
	__u32 slot = port_slot - 1;

	return port_slot ? bpf_map_lookup_elem(&port_stats, &slot) : NULL;
}

static __always_inline struct tcp_port_cache_entry *port_cache_entry(struct tcp_port_cache *cache, __u16 port,
								      __u8 role)
{
	__u32 i = (__u32)port ^ ((__u32)role << 7);

	/* The bound restated as a mask the 5.10 and 6.1 verifiers keep (see count_transition). */
	asm volatile("" : "+r"(i));
	return &cache->entries[i & (TCP_PORT_CACHE_SLOTS - 1)];
}

/* The slot of a socket born as a client or a server: from this CPU's port cache when it knows the
 * port (slots are never given back, so an entry stays right), else from port_slots, and then
 * remembered here for the next socket of the port and for its FIN_WAIT1 and CLOSE_WAIT. */
static __always_inline __u32 born_port_slot(const struct tcp_sock_state *st, struct tcp_cpu_counters *cnt)
{
	struct tcp_port_cache *cache;
	struct tcp_port_cache_entry *e;
	__u32 zero = 0, slot;
	__u16 port = st->role == TCP_ROLE_CLIENT ? st->rport : st->lport;

	cache = bpf_map_lookup_elem(&port_cache, &zero);
	if (!cache || port == 0)
		return port_slot_of(st, cnt);
	e = port_cache_entry(cache, port, st->role);
	if (e->port_slot && e->netns == st->netns && e->port == port && e->role == st->role)
		return e->port_slot;
	slot = port_slot_of(st, cnt);
	if (slot) {
		e->netns = st->netns;
		e->port = port;
		e->role = st->role;
		e->port_slot = slot;
	}
	return slot;
}

static __always_inline void count_transition(struct tcp_cpu_counters *cnt, int oldstate, int newstate)
{
	struct tcp_transition_matrix *m;
	__u32 zero = 0;
	__u64 cell;

	cnt->transitions++;
	m = bpf_map_lookup_elem(&transitions, &zero);
	if (!m)
		return;
	cell = (oldstate & (TCP_ST_COUNT - 1)) * TCP_ST_COUNT + (newstate & (TCP_ST_COUNT - 1));
	/* The 5.10 and 6.1 verifiers lose the bound of the compiler's folded form of this index
	 * ("math between map_value pointer and register with unbounded min value"): hide the value
	 * from the compiler and restate the bound as a mask the verifier keeps. */
	asm volatile("" : "+r"(cell));
	m->count[cell & (TCP_ST_COUNT * TCP_ST_COUNT - 1)]++;
}

/* Who closed first, on the port's aggregate: FIN_WAIT1 is this side's close, CLOSE_WAIT the peer's. */
static __always_inline void count_close(struct tcp_port_stats *ps, int oldstate, int newstate)
{
	if (!ps)
		return;
	if (newstate == TCP_ST_FIN_WAIT1 && (oldstate == TCP_ST_ESTABLISHED || oldstate == TCP_ST_SYN_RECV)) {
		ps->active_closes++;
	} else if (newstate == TCP_ST_CLOSE_WAIT) {
		ps->passive_closes++;
		ps->close_wait_entered++;
	}
}

/* A client's FIN (ESTABLISHED -> FIN_WAIT1): if its last data went out after its last data came in
 * (a request left unanswered), keep the flow for the reset that may answer it late. */
static __always_inline void remember_unanswered_fin(const struct sock *sk, __u32 netns, __u64 now, bool btf)
{
	struct tcp_fin_info fin = {};
	struct tcp_flow_key fk = {};

	/* tcp_sock fields: beyond the struct sock the verifier was told about, so read through
	 * bpf_probe_read_kernel even here (once per connection). */
	if (!last_data_times(sk, now, &fin.last_send_ns, &fin.last_recv_ns))
		return;
	/* close()/shutdown() run in the closing process: its pid is the one that gave up. */
	fin.pid = bpf_get_current_pid_tgid() >> 32;
	bpf_get_current_comm(fin.comm, sizeof(fin.comm));
	fin.fin_ns = now;
	fin.srtt_us = BPF_CORE_READ((const struct tcp_sock *)sk, srtt_us) >> 3;
	fk.netns = netns;
	read_tuple(&sk->__sk_common, &fk.family, fk.saddr, fk.daddr, &fk.sport, &fk.dport, btf);
	bpf_map_update_elem(&fin_pending, &fk, &fin, BPF_ANY);
}

/* FIN_WAIT1 and CLOSE_WAIT of a socket whose port this CPU's cache knows (no filter set): counted
 * from the socket's own tuple, the per-socket state left unread. False: not known, read it. A
 * server's local port is never an ephemeral port a client on this host was given (connect()
 * skips bound ports), so the server entry is tried first. */
static __always_inline bool close_by_cached_port(const struct sock *sk, int oldstate, int newstate, __u64 now,
						 struct tcp_cpu_counters *cnt, bool btf)
{
	const struct sock_common *skc = &sk->__sk_common;
	struct tcp_port_cache_entry *e;
	struct tcp_port_cache *cache;
	__u16 lport = SK_FIELD(btf, skc, skc_num);
	__u16 rport = bpf_ntohs(SK_FIELD(btf, skc, skc_dport));
	__u32 netns = netns_of(sk, btf), zero = 0;
	__u8 role = TCP_ROLE_SERVER;

	cache = bpf_map_lookup_elem(&port_cache, &zero);
	if (!cache)
		return false;
	e = port_cache_entry(cache, lport, TCP_ROLE_SERVER);
	if (!(e->port_slot && e->netns == netns && e->port == lport && e->role == TCP_ROLE_SERVER)) {
		role = TCP_ROLE_CLIENT;
		e = port_cache_entry(cache, rport, TCP_ROLE_CLIENT);
		if (!(e->port_slot && e->netns == netns && e->port == rport && e->role == TCP_ROLE_CLIENT))
			return false;
	}
	count_transition(cnt, oldstate, newstate);
	count_close(port_stats_at(e->port_slot), oldstate, newstate);
	if (newstate == TCP_ST_FIN_WAIT1 && oldstate == TCP_ST_ESTABLISHED && role == TCP_ROLE_CLIENT)
		remember_unanswered_fin(sk, netns, now, btf);
	return true;
}

static __always_inline void on_set_state(const struct sock *sk, int oldstate, int newstate, bool btf)
{
	struct tcp_cpu_counters *cnt;
	struct tcp_sock_state *st, local = {};
	struct tcp_port_stats *ps;
	struct tcp_hists *h;
	__u64 key = (__u64)sk;
	bool tracked = false, born;
	__u64 now;

	if ((btf ? BPF_CORE_READ_BITFIELD(sk, sk_protocol) : BPF_CORE_READ_BITFIELD_PROBED(sk, sk_protocol)) != IPPROTO_TCP)
		return;
	cnt = this_cpu_counters();
	if (!cnt)
		return;
	/* FIN_WAIT2 and CLOSING change nothing kept per socket or per port: counted, nothing looked
	 * up (unless a filter needs the socket's owner to decide whether to count it). */
	if ((newstate == TCP_ST_FIN_WAIT2 || newstate == TCP_ST_CLOSING) && !filtering()) {
		count_transition(cnt, oldstate, newstate);
		return;
	}
	now = bpf_ktime_get_ns();
	if ((newstate == TCP_ST_FIN_WAIT1 || newstate == TCP_ST_CLOSE_WAIT) && !filtering() &&
	    close_by_cached_port(sk, oldstate, newstate, now, cnt, btf))
		return;

	/* A tracked socket's state is updated in place (transitions of one socket are serialised by
	 * its lock); only a socket seen for the first time is built on the stack and inserted, once.
	 * Copying the state out and updating the map on every transition cost more than the rest of
	 * the program together. A socket being born (connect, listen, a listener's child) cannot have
	 * state yet: no lookup, and an entry a missed CLOSE left behind is overwritten. */
	born = oldstate == TCP_ST_CLOSE && (newstate == TCP_ST_SYN_SENT || newstate == TCP_ST_LISTEN);
	born |= oldstate == TCP_ST_LISTEN && newstate == TCP_ST_SYN_RECV;
	st = born ? NULL : bpf_map_lookup_elem(&sock_states, &key);
	if (st) {
		tracked = true;
		/* A client's local port is bound after SYN_SENT is set (inet_hash_connect): read the
		 * ports again until the connection is established; it does not change afterwards. */
		if ((newstate == TCP_ST_ESTABLISHED && st->role == TCP_ROLE_CLIENT) || st->lport == 0) {
			bool unbound = st->lport == 0;

			read_ports(&sk->__sk_common, &st->lport, &st->rport, btf);
			/* listen() without bind(): the port is known now, and so is the aggregate. */
			if (unbound && st->lport && st->role != TCP_ROLE_CLIENT && st->port_slot)
				st->port_slot = port_slot_of(st, cnt);
		}
	} else {
		if (oldstate == TCP_ST_CLOSE && newstate == TCP_ST_SYN_SENT)
			local.role = TCP_ROLE_CLIENT;
		else if (oldstate == TCP_ST_LISTEN && newstate == TCP_ST_SYN_RECV)
			local.role = TCP_ROLE_SERVER;
		else if (newstate == TCP_ST_LISTEN || oldstate == TCP_ST_LISTEN)
			local.role = TCP_ROLE_LISTENER;
		else
			local.role = TCP_ROLE_UNKNOWN;
		if (local.role == TCP_ROLE_CLIENT || local.role == TCP_ROLE_SERVER)
			local.open_ns = now;
		local.netns = netns_of(sk, btf);
		read_ports(&sk->__sk_common, &local.lport, &local.rport, btf);
		/* connect() and listen() run in the owner's context; a passive child's transitions run
		 * in softirq (on loopback: in the client's context), so it inherits its listener's:
		 * looked up here only when a filter needs the verdict, else when a reset asks for it. */
		if (oldstate == TCP_ST_CLOSE && (newstate == TCP_ST_SYN_SENT || newstate == TCP_ST_LISTEN)) {
			current_owner(&local.owner);
			if (newstate == TCP_ST_LISTEN) {
				struct tcp_listener_key lk = {.netns = local.netns, .port = local.lport};
				bpf_map_update_elem(&listener_owners, &lk, &local.owner, BPF_ANY);
			}
		} else if (local.role == TCP_ROLE_SERVER && filtering()) {
			listener_owner(local.netns, local.lport, &local.owner);
		}
		st = &local;
	}
	/* Filtered out, or an owner we cannot know (born before the window): not tracked at all. */
	if (filtering() && st->owner.traced != 1)
		return;
	if (!tracked) {
		if (local.role == TCP_ROLE_CLIENT || local.role == TCP_ROLE_SERVER)
			local.port_slot = born_port_slot(&local, cnt);
		else
			local.port_slot = port_slot_of(&local, cnt);
	}

	count_transition(cnt, oldstate, newstate);

	ps = port_stats_at(st->port_slot);
	h = this_cpu_hists();

	switch (newstate) {
	case TCP_ST_SYN_SENT:
	case TCP_ST_SYN_RECV:
		if (ps && (oldstate == TCP_ST_CLOSE || oldstate == TCP_ST_LISTEN))
			ps->opens++;
		break;
	case TCP_ST_ESTABLISHED:
		st->established_ns = now;
		if (ps)
			ps->established++;
		if (oldstate == TCP_ST_SYN_SENT && st->open_ns) {
			__u64 connect_ns = now - st->open_ns;
			if (h)
				hist_add(&h->connect_us, connect_ns / 1000);
			if (ps) {
				ps->connect_ns_sum += connect_ns;
				if (connect_ns > ps->connect_ns_max)
					ps->connect_ns_max = connect_ns;
			}
		}
		break;
	case TCP_ST_FIN_WAIT1:
		count_close(ps, oldstate, newstate);
		if (oldstate == TCP_ST_ESTABLISHED && st->role != TCP_ROLE_SERVER && st->role != TCP_ROLE_LISTENER)
			remember_unanswered_fin(sk, st->netns, now, btf);
		break;
	case TCP_ST_CLOSE_WAIT:
		count_close(ps, oldstate, newstate);
		break;
	case TCP_ST_LAST_ACK:
		if (ps && oldstate == TCP_ST_CLOSE_WAIT)
			ps->close_wait_left++;
		break;
	case TCP_ST_CLOSE:
		if (ps) {
			if (oldstate == TCP_ST_SYN_SENT)
				ps->connect_failures++;
			else if (oldstate == TCP_ST_ESTABLISHED || oldstate == TCP_ST_SYN_RECV ||
				 oldstate == TCP_ST_CLOSE_WAIT)
				ps->aborts++;
			if (oldstate == TCP_ST_CLOSE_WAIT)
				ps->close_wait_left++;
		}
		if (st->established_ns) {
			__u64 lifetime_ns = now - st->established_ns;
			if (h)
				hist_add(&h->lifetime_us, lifetime_ns / 1000);
			if (ps) {
				ps->lifetime_ns_sum += lifetime_ns;
				ps->lifetime_count++;
			}
		}
		if (tracked)
			bpf_map_delete_elem(&sock_states, &key);
		return;
	}
	/* Besides the reasons of row_not_created(), -ENOMEM: run-time allocation failed. -EEXIST is
	 * a socket a concurrent first sighting inserted already: tracked. */
	if (!tracked) {
		long err = bpf_map_update_elem(&sock_states, &key, &local, born ? BPF_ANY : BPF_NOEXIST);

		if (row_not_created(err))
			cnt->sock_map_full++;
	}
}

static __always_inline void account_retransmit(const struct sock *sk, struct tcp_flow_key *fk,
					       __u32 segs, bool syn, __u32 rto_ms, __u32 srtt_us,
					       __u32 backoff, __u32 state,
					       struct tcp_cpu_counters *cnt)
{
	struct tcp_flow_stats *fs;
	struct tcp_hists *h = this_cpu_hists();
	__u64 now = bpf_ktime_get_ns();

	if (h) {
		hist_add(&h->rto_ms, rto_ms);
		if (srtt_us) /* no RTT sample yet (SYN, SYN-ACK): not a 0 us RTT */
			hist_add(&h->srtt_us, srtt_us);
	}
	fk->netns = netns_of(sk, false);
	fs = bpf_map_lookup_elem(&flow_stats, fk);
	if (!fs) {
		struct tcp_flow_stats fresh = {};
		fresh.first_ns = now;
		if (row_not_created(bpf_map_update_elem(&flow_stats, fk, &fresh, BPF_NOEXIST))) {
			cnt->flow_map_full++;
			return;
		}
		fs = bpf_map_lookup_elem(&flow_stats, fk);
		if (!fs)
			return;
	}
	__sync_fetch_and_add(&fs->segs, segs);
	if (syn)
		__sync_fetch_and_add(&fs->syn_segs, segs);
	fs->last_ns = now;
	fs->state = state;
	fs->last_srtt_us = srtt_us;
	if (rto_ms > fs->max_rto_ms)
		fs->max_rto_ms = rto_ms;
	if (backoff > fs->max_backoff)
		fs->max_backoff = backoff;
}

static __always_inline void on_retransmit(const struct sock *sk, const struct sk_buff *skb, int err)
{
	struct tcp_cpu_counters *cnt = this_cpu_counters();
	struct tcp_skb_cb *cb = (struct tcp_skb_cb *)&skb->cb[0];
	struct tcp_flow_key fk = {};
	__u32 segs;
	bool syn;

	if (!cnt || !sock_traced(sk))
		return;
	/* tcp_skb_pcount(): what __tcp_retransmit_skb added to TcpRetransSegs for this skb. */
	segs = BPF_CORE_READ(cb, tcp_gso_segs);
	if (segs == 0)
		segs = 1;
	if (retransmit_has_err && err != 0) {
		cnt->retrans_failed_segs += segs;
		return;
	}
	syn = BPF_CORE_READ(cb, tcp_flags) & TCPHDR_SYN;
	cnt->retrans_events++;
	cnt->retrans_segs += segs;
	if (syn)
		cnt->syn_retrans += segs;

	const struct inet_connection_sock *icsk = (const struct inet_connection_sock *)sk;
	const struct tcp_sock *tp = (const struct tcp_sock *)sk;
	__u32 rto_ms = jiffies_to_ms(BPF_CORE_READ(icsk, icsk_rto));
	__u32 srtt_us = BPF_CORE_READ(tp, srtt_us) >> 3;
	__u32 backoff = BPF_CORE_READ(icsk, icsk_backoff);
	__u32 state = BPF_CORE_READ(sk, __sk_common.skc_state);

	read_tuple(&sk->__sk_common, &fk.family, fk.saddr, fk.daddr, &fk.sport, &fk.dport, false);
	account_retransmit(sk, &fk, segs, syn, rto_ms, srtt_us, backoff, state, cnt);
}

/* A SYN-ACK retransmit: `sk` is the listener, the flow is the request sock's. */
static __always_inline void on_retransmit_synack(const struct sock *sk, const struct request_sock *req)
{
	struct tcp_cpu_counters *cnt = this_cpu_counters();
	struct tcp_flow_key fk = {};

	if (!cnt || !sock_traced(sk)) /* sk: the listener */
		return;
	cnt->retrans_events++;
	cnt->retrans_segs++;
	cnt->synack_retrans++;
	__u32 backoff = BPF_CORE_READ_BITFIELD_PROBED(req, num_timeout);
	__u32 rto_ms;

	/* request_sock.timeout arrived in 5.14; before it the SYN-ACK timer is the initial RTO (1 s)
	 * doubled per retransmit, which is what the kernel computes for it too. */
	if (bpf_core_field_exists(req->timeout))
		rto_ms = jiffies_to_ms(BPF_CORE_READ(req, timeout));
	else
		rto_ms = 1000U << (backoff & 15);
	read_tuple(&req->__req_common, &fk.family, fk.saddr, fk.daddr, &fk.sport, &fk.dport, false);
	account_retransmit(sk, &fk, 1, true, rto_ms, 0, backoff, TCP_ST_SYN_RECV, cnt);
}

static __always_inline void on_kfree_skb(const struct sk_buff *skb, __u32 reason, const struct sock *rx_sk)
{
	struct tcp_listener_key key = {};
	struct tcp_cpu_counters *cnt;
	__u64 one = 1, *drops;

	if (!listen_overflow_reason || reason != listen_overflow_reason)
		return;
	cnt = this_cpu_counters();
	if (!cnt)
		return;
	if (!kfree_skb_has_rx_sk)
		rx_sk = BPF_CORE_READ(skb, sk);
	if (filtering() && (!rx_sk || !sock_traced(rx_sk)))
		return;
	cnt->listen_overflow_drops++;
	if (!rx_sk)
		return;
	key.netns = netns_of(rx_sk, false);
	key.port = BPF_CORE_READ(rx_sk, __sk_common.skc_num);
	drops = bpf_map_lookup_elem(&listen_drops, &key);
	if (!drops && bpf_map_update_elem(&listen_drops, &key, &one, BPF_NOEXIST) == -EEXIST)
		drops = bpf_map_lookup_elem(&listen_drops, &key); /* another CPU counted its first drop */
	if (drops)
		__sync_fetch_and_add(drops, 1);
}

static __always_inline void on_reset(const struct sock *sk, bool sent)
{
	struct tcp_cpu_counters *cnt = this_cpu_counters();
	struct tcp_reset_event *e;
	struct tcp_sock_state *st = NULL;
	struct tcp_fin_info *fin = NULL;
	struct tcp_flow_key fk = {};
	__u64 key = (__u64)sk;
	__u8 state;

	if (!cnt)
		return;
	if (sk) {
		st = bpf_map_lookup_elem(&sock_states, &key);
		read_tuple(&sk->__sk_common, &fk.family, fk.saddr, fk.daddr, &fk.sport, &fk.dport, false);
		fk.netns = netns_of(sk, false);
		/* A reset we send on a flow whose FIN left a request unanswered: the late answer. It
		 * usually lands on the TIME_WAIT (FIN_WAIT2) mini socket, hence the flow key. */
		if (sent)
			fin = bpf_map_lookup_elem(&fin_pending, &fk);
	}
	if (filtering() && !(st && st->owner.traced == 1) && !fin)
		return;
	if (sent)
		cnt->resets_sent++;
	else
		cnt->resets_received++;
	/* A reset with no full socket (a RST answering a packet for no connection) says nothing
	 * about an application: counted, not streamed. */
	if (!sk)
		return;
	cnt->events_produced++;
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		cnt->events_lost++;
		return;
	}
	e->t_ns = bpf_ktime_get_ns();
	__builtin_memcpy(e->saddr, fk.saddr, sizeof(e->saddr));
	__builtin_memcpy(e->daddr, fk.daddr, sizeof(e->daddr));
	e->family = fk.family;
	e->sport = fk.sport;
	e->dport = fk.dport;
	e->netns = fk.netns;
	state = BPF_CORE_READ(sk, __sk_common.skc_state);
	e->state = state;
	e->sent = sent;
	e->role = st ? st->role : (fin ? TCP_ROLE_CLIENT : TCP_ROLE_UNKNOWN);
	e->pad[0] = e->pad[1] = e->pad[2] = 0;
	e->srtt_us = 0;
	e->last_send_ns = 0;
	e->last_recv_ns = 0;
	e->fin_ns = 0;
	e->pid = 0;
	__builtin_memset(e->comm, 0, sizeof(e->comm));
	e->established_ns = st ? st->established_ns : 0;
	/* The FIN carried an ACK, and the kernel stamps every ACK it accepts; a socket left in
	 * CLOSE_WAIT receives none after it unless it sends data itself. */
	e->close_wait_ns = 0;
	if (state == TCP_ST_CLOSE_WAIT)
		e->close_wait_ns = jiffies_stamp_ns(BPF_CORE_READ((const struct tcp_sock *)sk, rcv_tstamp), e->t_ns);
	if (st) {
		struct tcp_owner owner = st->owner;

		if (!owner.tgid && st->role == TCP_ROLE_SERVER)
			listener_owner(st->netns, st->lport, &owner);
		e->pid = owner.tgid;
		__builtin_memcpy(e->comm, owner.comm, sizeof(e->comm));
	}
	if (fin) {
		e->last_send_ns = fin->last_send_ns;
		e->last_recv_ns = fin->last_recv_ns;
		e->fin_ns = fin->fin_ns;
		e->srtt_us = fin->srtt_us;
		e->pid = fin->pid;
		__builtin_memcpy(e->comm, fin->comm, sizeof(e->comm));
	} else if (state != TCP_ST_TIME_WAIT && state != TCP_ST_NEW_SYN_RECV && state != TCP_ST_LISTEN) {
		/* A full socket: its own stamps (a request sent on a CLOSE_WAIT socket, ...). */
		last_data_times(sk, e->t_ns, &e->last_send_ns, &e->last_recv_ns);
		e->srtt_us = BPF_CORE_READ((const struct tcp_sock *)sk, srtt_us) >> 3;
	}
	bpf_ringbuf_submit(e, ringbuf_batch_flags(&events, TCP_RING_BYTES, sizeof(*e)));
	if (fin)
		bpf_map_delete_elem(&fin_pending, &fk);
}

/* ---- tp_btf set: typed arguments ---- */

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(set_state_btf, const struct sock *sk, int oldstate, int newstate)
{
	on_set_state(sk, oldstate, newstate, true);
	return 0;
}

SEC("tp_btf/tcp_retransmit_skb")
int BPF_PROG(retransmit_btf, const struct sock *sk, const struct sk_buff *skb)
{
	on_retransmit(sk, skb, retransmit_has_err ? (int)ctx[2] : 0);
	return 0;
}

SEC("tp_btf/tcp_retransmit_synack")
int BPF_PROG(retransmit_synack_btf, const struct sock *sk, const struct request_sock *req)
{
	on_retransmit_synack(sk, req);
	return 0;
}

SEC("tp_btf/kfree_skb")
int BPF_PROG(kfree_skb_btf, struct sk_buff *skb, void *location)
{
	on_kfree_skb(skb, listen_overflow_reason ? (__u32)ctx[2] : 0,
		     kfree_skb_has_rx_sk ? (const struct sock *)ctx[3] : NULL);
	return 0;
}

SEC("tp_btf/tcp_send_reset")
int BPF_PROG(send_reset_btf, const struct sock *sk)
{
	on_reset(sk, true);
	return 0;
}

SEC("tp_btf/tcp_receive_reset")
int BPF_PROG(receive_reset_btf, struct sock *sk)
{
	on_reset(sk, false);
	return 0;
}

/* ---- raw_tp set: untyped arguments read through CO-RE ---- */

SEC("raw_tp/inet_sock_set_state")
int BPF_PROG(set_state_raw, const struct sock *sk, int oldstate, int newstate)
{
	on_set_state(sk, oldstate, newstate, false);
	return 0;
}

SEC("raw_tp/tcp_retransmit_skb")
int BPF_PROG(retransmit_raw, const struct sock *sk, const struct sk_buff *skb)
{
	on_retransmit(sk, skb, retransmit_has_err ? (int)ctx[2] : 0);
	return 0;
}

SEC("raw_tp/tcp_retransmit_synack")
int BPF_PROG(retransmit_synack_raw, const struct sock *sk, const struct request_sock *req)
{
	on_retransmit_synack(sk, req);
	return 0;
}

SEC("raw_tp/kfree_skb")
int BPF_PROG(kfree_skb_raw, struct sk_buff *skb, void *location)
{
	on_kfree_skb(skb, listen_overflow_reason ? (__u32)ctx[2] : 0,
		     kfree_skb_has_rx_sk ? (const struct sock *)ctx[3] : NULL);
	return 0;
}

SEC("raw_tp/tcp_send_reset")
int BPF_PROG(send_reset_raw, const struct sock *sk)
{
	on_reset(sk, true);
	return 0;
}

SEC("raw_tp/tcp_receive_reset")
int BPF_PROG(receive_reset_raw, struct sock *sk)
{
	on_reset(sk, false);
	return 0;
}

/* Part of tcp.bpf.c: what every handler reads. This CPU's counters and histograms, a socket's
 * owner (the current task, or its listener's for a passive child), whether the filters trace it,
 * its netns, tuple and ports, and its jiffies stamps as ns. Nothing here writes to a map. */
#ifndef TRIAGE_TCP_SOCK_BPF_H
#define TRIAGE_TCP_SOCK_BPF_H

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

#endif /* TRIAGE_TCP_SOCK_BPF_H */

/* Part of tcp.bpf.c: RSTs sent and received. Each is counted and sent to the ring buffer with
 * the socket's role and times, and with the unanswered FIN that came before it, if
 * fin_pending holds one (the entry is consumed here). */
#ifndef TRIAGE_TCP_RESET_BPF_H
#define TRIAGE_TCP_RESET_BPF_H

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

#endif /* TRIAGE_TCP_RESET_BPF_H */

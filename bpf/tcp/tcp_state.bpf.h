/* Part of tcp.bpf.c: the inet_sock_set_state handler. Per-socket state from the first transition
 * to TCP_CLOSE, transition counts, connect latency and lifetimes, who closed first, listener
 * owners, and FINs that left a request unanswered. */
#ifndef TRIAGE_TCP_STATE_BPF_H
#define TRIAGE_TCP_STATE_BPF_H

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

#endif /* TRIAGE_TCP_STATE_BPF_H */

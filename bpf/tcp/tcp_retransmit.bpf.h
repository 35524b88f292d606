/* Part of tcp.bpf.c: retransmitted segments and SYN-ACKs, counted per CPU and per flow
 * (flow_stats, created on a flow's first retransmit) with the RTO, srtt and backoff the
 * socket had at that moment. */
#ifndef TRIAGE_TCP_RETRANSMIT_BPF_H
#define TRIAGE_TCP_RETRANSMIT_BPF_H

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

#endif /* TRIAGE_TCP_RETRANSMIT_BPF_H */

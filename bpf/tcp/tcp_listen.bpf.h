/* Part of tcp.bpf.c: SYNs a listener dropped because its accept queue was full (kfree_skb with
 * the listen-overflow drop reason), by listener (listen_drops). */
#ifndef TRIAGE_TCP_LISTEN_BPF_H
#define TRIAGE_TCP_LISTEN_BPF_H

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

#endif /* TRIAGE_TCP_LISTEN_BPF_H */

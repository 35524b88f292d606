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

/* The family in parts, one concern each, included in the order they depend on each other; the
 * programs themselves stay here, so both sets read side by side. */
#include "tcp/tcp_maps.bpf.h"
#include "tcp/tcp_sock.bpf.h"
#include "tcp/tcp_ports.bpf.h"
#include "tcp/tcp_state.bpf.h"
#include "tcp/tcp_retransmit.bpf.h"
#include "tcp/tcp_listen.bpf.h"
#include "tcp/tcp_reset.bpf.h"

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

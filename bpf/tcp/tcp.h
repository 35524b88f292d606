/* The tcp family's ABI: every struct the BPF program and the C++ loader both see.
 * Plain __u* types only; user/tcp/tcp_abi.h static_asserts the layout on the C++ side. */
#ifndef TRIAGE_TCP_H
#define TRIAGE_TCP_H

#include "common/hist.h"

/* TCP states as include/net/tcp_states.h numbers them (stable: ss, sock_diag and the tracepoint
 * all expose these numbers). TIME_WAIT and NEW_SYN_RECV belong to mini sockets that never pass
 * through inet_sock_set_state. */
#define TCP_ST_ESTABLISHED 1
#define TCP_ST_SYN_SENT 2
#define TCP_ST_SYN_RECV 3
#define TCP_ST_FIN_WAIT1 4
#define TCP_ST_FIN_WAIT2 5
#define TCP_ST_TIME_WAIT 6
#define TCP_ST_CLOSE 7
#define TCP_ST_CLOSE_WAIT 8
#define TCP_ST_LAST_ACK 9
#define TCP_ST_LISTEN 10
#define TCP_ST_CLOSING 11
#define TCP_ST_NEW_SYN_RECV 12
#define TCP_ST_COUNT 16 /* transition matrix side: a power of two, so a mask bounds the index */

/* Which end of a connection a socket is, decided by how it was born. */
enum tcp_role {
	TCP_ROLE_UNKNOWN = 0, /* born before the window: port is min(local, remote) */
	TCP_ROLE_SERVER = 1,  /* passive open (child of a listener): port is the local port */
	TCP_ROLE_CLIENT = 2,  /* active open (connect): port is the remote (service) port */
	TCP_ROLE_LISTENER = 3,/* the listening socket itself: port is the local port */
};

/* Per-CPU counters; userspace sums the copies. */
struct tcp_cpu_counters {
	__u64 transitions;       /* inet_sock_set_state events of TCP sockets */
	__u64 retrans_events;    /* tcp_retransmit_skb events that went out (err == 0) */
	__u64 retrans_segs;      /* their segments (tcp_gso_segs): what TcpRetransSegs counts */
	__u64 retrans_failed_segs; /* segments of retransmits the stack failed to send (err != 0) */
	__u64 syn_retrans;       /* SYN retransmits (part of retrans_segs) */
	__u64 synack_retrans;    /* SYN-ACK retransmits of request socks (part of retrans_segs) */
	__u64 listen_overflow_drops; /* kfree_skb with reason TCP_LISTEN_OVERFLOW */
	__u64 sock_map_full;     /* per-socket state could not be created (map full, no memory): untracked */
	__u64 port_map_full;     /* per-port aggregate dropped */
	__u64 flow_map_full;     /* per-flow retransmit aggregate dropped */
	__u64 events_produced;   /* rare events offered to the ring buffer */
	__u64 events_lost;       /* of those, dropped because the ring buffer was full */
	__u64 resets_sent;       /* tcp_send_reset */
	__u64 resets_received;   /* tcp_receive_reset */
};

/* Histograms, per CPU. */
struct tcp_hists {
	struct triage_log2_hist connect_us;  /* SYN_SENT -> ESTABLISHED */
	struct triage_log2_hist lifetime_us; /* ESTABLISHED -> CLOSE, connections born in the window */
	struct triage_log2_hist rto_ms;      /* icsk_rto at each retransmit */
	struct triage_log2_hist srtt_us;     /* smoothed RTT at each retransmit */
};

/* Transition matrix, per CPU: count[from * TCP_ST_COUNT + to]. */
struct tcp_transition_matrix {
	__u64 count[TCP_ST_COUNT * TCP_ST_COUNT];
};

/* Per-port aggregate key: the service port a socket belongs to and its role. */
struct tcp_port_key {
	__u32 netns;  /* inode number of the socket's network namespace */
	__u16 port;   /* host byte order */
	__u8 role;    /* enum tcp_role */
	__u8 pad;
};

/* Per-port aggregate, one copy per CPU in a slot of the port_stats array (the slot_claims map
 * says which key a slot counts for; a key may own more than one slot after a race, so userspace
 * sums by key). Userspace adds the copies and takes the largest connect_ns_max. */
#define TCP_PORT_SLOTS_MAX 8192
struct tcp_port_stats {
	__u64 opens;          /* SYN_SENT (client) or SYN_RECV child (server) seen */
	__u64 established;
	__u64 active_closes;  /* ESTABLISHED -> FIN_WAIT1: this side closed first */
	__u64 passive_closes; /* ESTABLISHED -> CLOSE_WAIT: the peer closed first */
	__u64 aborts;         /* ESTABLISHED/CLOSE_WAIT/... -> CLOSE without FIN exchange (reset) */
	__u64 connect_failures; /* SYN_SENT -> CLOSE (refused, timed out, unreachable) */
	__u64 connect_ns_sum;
	__u64 connect_ns_max;
	__u64 lifetime_ns_sum; /* connections that closed, from ESTABLISHED to CLOSE */
	__u64 lifetime_count;
	__u64 close_wait_entered;
	__u64 close_wait_left;  /* CLOSE_WAIT -> LAST_ACK/CLOSE: the application did close */
};

/* Who owns a socket, captured only where the kernel runs in the owner's context: connect()
 * (CLOSE -> SYN_SENT) and listen() (CLOSE -> LISTEN); a passive child inherits its listener's.
 * On loopback the server's transitions run in the client's context, so never `current` there. */
struct tcp_owner {
	__u32 tgid;           /* 0: unknown (born before the window) */
	__u8 traced;          /* -p/--cgroup verdict: 0 unknown owner, 1 traced, 2 filtered out */
	__u8 pad[3];
	char comm[16];
};

/* Per-socket state, keyed by the sock pointer; dropped at TCP_CLOSE. Not read at FIN_WAIT1 or
 * CLOSE_WAIT when the per-CPU port cache knows the socket's port (tcp_maps.bpf.h): a read there
 * came right after a process woke up and was ten times dearer (design figure T2 in
 * bench/RESULTS.md). So nothing here is
 * written at those two states; a CLOSE_WAIT socket's age comes from the kernel's own stamp of the
 * FIN (tp->rcv_tstamp, which sock_diag reports as tcpi_last_ack_recv). */
struct tcp_sock_state {
	__u64 open_ns;        /* SYN_SENT or SYN_RECV time (CLOCK_MONOTONIC), 0 if before window */
	__u64 established_ns;
	__u32 netns;
	__u16 lport;          /* host byte order */
	__u16 rport;          /* host byte order */
	__u32 port_slot;      /* the port aggregate's slot + 1; 0: none (map full or filtered) */
	__u8 role;            /* enum tcp_role */
	__u8 pad[3];
	struct tcp_owner owner;
};

/* A side that sent its FIN with its last data sent after its last data received (a request left
 * unanswered), kept per flow until a reset answers late data or the LRU evicts it: the late data
 * usually reaches a TIME_WAIT (FIN_WAIT2) mini socket whose pointer the full socket's state never
 * saw, so the flow is the key. Client and unknown-role sockets only: a server's FIN after its
 * response is the normal end of a request. */
struct tcp_fin_info {
	__u64 last_send_ns;   /* last data sent (tp->lsndtime, jiffy resolution) */
	__u64 last_recv_ns;   /* last data received (icsk_ack.lrcvtime) */
	__u64 fin_ns;         /* ESTABLISHED -> FIN_WAIT1 */
	__u32 pid;            /* the closing task (close() runs in the owner's context) */
	__u32 srtt_us;
	char comm[16];
};

/* Retransmits per flow. The flow is the retransmitting socket's 4-tuple, local side first. */
struct tcp_flow_key {
	__u8 saddr[16];
	__u8 daddr[16];
	__u32 netns;
	__u16 sport;
	__u16 dport;
	__u16 family;
	__u16 pad;
};

struct tcp_flow_stats {
	__u64 segs;        /* retransmitted segments */
	__u64 syn_segs;    /* of which SYN or SYN-ACK */
	__u64 first_ns;
	__u64 last_ns;
	__u32 max_rto_ms;
	__u32 last_srtt_us;
	__u32 max_backoff;
	__u32 state;       /* TCP state at the last retransmit */
};

/* Listen-overflow drops seen by kfree_skb, per listener. An attribution hint only: the
 * tracepoint does not fire on every path that counts ListenOverflows. */
struct tcp_listener_key {
	__u32 netns;
	__u16 port;
	__u16 pad;
};

/* A reset, streamed through the ring buffer (rare by nature). */
struct tcp_reset_event {
	__u64 t_ns;
	__u8 saddr[16];
	__u8 daddr[16];
	__u32 netns;
	__u16 sport;
	__u16 dport;
	__u16 family;
	__u8 state;
	__u8 sent;          /* 1: tcp_send_reset, 0: tcp_receive_reset */
	__u32 srtt_us;      /* full sockets only */
	__u64 established_ns; /* when this socket became ESTABLISHED (0: unknown) */
	/* CLOCK_MONOTONIC ns, 0 when unknown. For a full socket the last data sent and received
	 * (tp->lsndtime, icsk_ack.lrcvtime); for a reset sent on a flow whose FIN left a request
	 * unanswered, the values tcp_fin_info kept at that FIN. */
	__u64 last_send_ns;
	__u64 last_recv_ns;
	__u64 close_wait_ns;  /* in CLOSE_WAIT: when the peer's FIN arrived (tp->rcv_tstamp, to a jiffy) */
	__u64 fin_ns;         /* this side's FIN with a request unanswered (from tcp_fin_info) */
	__u32 pid;            /* the closer (fin_ns set) or the socket's owner; 0 unknown */
	char comm[16];
	__u8 role;            /* enum tcp_role of the socket (unknown for mini sockets) */
	__u8 pad[3];
};

#endif

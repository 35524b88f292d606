/* Part of tcp.bpf.c: every map of the tcp family and the state that sizes the port aggregates
 * (port_slot_count, port_slot_hint, the per-CPU port cache). Kept in one place because the loader
 * resizes some of them before load and reads them all; their order here is the skeleton's order. */
#ifndef TRIAGE_TCP_MAPS_BPF_H
#define TRIAGE_TCP_MAPS_BPF_H

/* Preallocated here; the loader switches it to run-time allocation on kernels with bpf_mem_alloc
 * (see TcpFamily::load). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64); /* the struct sock pointer */
	__type(value, struct tcp_sock_state);
} sock_states SEC(".maps");

/* Per-port aggregates. A shared hash entry per port was costly on every transition (design figure
 * T1 in bench/RESULTS.md): the hash lookup, and its cache lines bouncing between the CPUs that run
 * the client's and the server's transitions of the same port. So a socket finds its port's slot once, when it is
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
 * the per-socket state there cost ten times what it costs at ESTABLISHED or CLOSE (design figure
 * T2 in bench/RESULTS.md); this CPU's own memory did not show that cost. Direct-mapped: a
 * collision, or a port only ever born on another CPU, is a miss, and a miss reads the per-socket
 * state as before. Only this CPU writes its copy. */
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

#endif /* TRIAGE_TCP_MAPS_BPF_H */

/* Part of tcp.bpf.c: which port_stats slot a socket is counted under. A slot is claimed once per
 * port through slot_claims, and a socket born as a client or a server finds it through this CPU's
 * port cache before falling back to the shared port_slots lookup. */
#ifndef TRIAGE_TCP_PORTS_BPF_H
#define TRIAGE_TCP_PORTS_BPF_H

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

#endif /* TRIAGE_TCP_PORTS_BPF_H */

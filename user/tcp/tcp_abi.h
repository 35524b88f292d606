// The tcp family's shared structs as C++ sees them, with their layout pinned: a change on one
// side that the other does not follow fails to compile instead of misreading the maps.
#pragma once

#include <linux/types.h>

#include <cstddef>

#include "tcp/tcp.h"

static_assert(sizeof(triage_log2_hist) == 8 * (TRIAGE_HIST_SLOTS + 4));
static_assert(sizeof(tcp_cpu_counters) == 8 * 14);
static_assert(offsetof(tcp_cpu_counters, syn_retrans) == 8 * 4);
static_assert(offsetof(tcp_cpu_counters, events_lost) == 8 * 11);
static_assert(offsetof(tcp_cpu_counters, resets_received) == 8 * 13);
static_assert(sizeof(tcp_hists) == 4 * sizeof(triage_log2_hist));
static_assert(offsetof(tcp_hists, srtt_us) == 3 * sizeof(triage_log2_hist));
static_assert(sizeof(tcp_transition_matrix) == 8 * TCP_ST_COUNT * TCP_ST_COUNT);
static_assert(sizeof(tcp_port_key) == 8 && offsetof(tcp_port_key, role) == 6);
static_assert(sizeof(tcp_port_stats) == 8 * 12);
static_assert(offsetof(tcp_port_stats, close_wait_left) == 8 * 11);
static_assert(sizeof(tcp_owner) == 24);
static_assert(sizeof(tcp_sock_state) == 56 && offsetof(tcp_sock_state, owner) == 32);
static_assert(sizeof(tcp_fin_info) == 48 && offsetof(tcp_fin_info, comm) == 32);
static_assert(offsetof(tcp_sock_state, port_slot) == 24 && offsetof(tcp_sock_state, role) == 28);
static_assert(sizeof(tcp_flow_key) == 44 && offsetof(tcp_flow_key, netns) == 32 && offsetof(tcp_flow_key, family) == 40);
static_assert(sizeof(tcp_flow_stats) == 48 && offsetof(tcp_flow_stats, state) == 44);
static_assert(sizeof(tcp_listener_key) == 8);
static_assert(sizeof(tcp_reset_event) == 120);
static_assert(offsetof(tcp_reset_event, netns) == 40 && offsetof(tcp_reset_event, established_ns) == 56);
static_assert(offsetof(tcp_reset_event, fin_ns) == 88 && offsetof(tcp_reset_event, comm) == 100 &&
              offsetof(tcp_reset_event, role) == 116);

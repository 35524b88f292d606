// Socket snapshots per network namespace: TIME_WAIT, CLOSE_WAIT, listeners and request sockets
// over NETLINK_SOCK_DIAG, and the kernel's own TCP counters (/proc/net/netstat, snmp), read from
// inside every namespace the machine has. The BPF side sees every namespace; so must this.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/sock_diag.h"

namespace triage::tcp {

struct NetnsSnapshot {
  uint32_t inode = 0;     // the namespace's inode (what ip netns identify / ls -l /proc/*/ns/net show)
  std::string name;       // its /run/netns name, if any
  uint32_t pid = 0;       // a process living in it (0: only a /run/netns bind mount)
  std::vector<DiagSocket> sockets;  // LISTEN; SYN_RECV (request socks) and CLOSE_WAIT if walked; TIME_WAIT if listed
  bool connections_walked = false;  // `sockets` holds every SYN_RECV and CLOSE_WAIT socket of the namespace
  bool one_request = false;         // both families came from one request (one walk), not one each
  bool time_wait_listed = false;    // `sockets` holds every TIME_WAIT socket of the namespace
  uint64_t time_wait_count = 0;     // TIME_WAIT sockets per /proc/net/sockstat, listed or not
  uint64_t in_use_count = 0;        // its "inuse": every TCP socket but TIME_WAIT ones
  std::map<std::string, uint64_t> counters;  // TcpExt + Tcp counters (names as nstat prints them, w/o prefix)
  std::string error;      // why this namespace could not be read (empty when fine)
};

// Every network namespace in use (processes' and /run/netns bind mounts), deduplicated, ours
// first. Finding them takes a stat of /proc/<pid>/ns/net for every process, ~8 ms of CPU on a box
// with 2,000 of them: too much for every interval. So the finder remembers each pid's namespace
// and stats only pids it has not seen before, and every pid again each `recheck_ns` (a process
// that moved with setns or unshare is found then; a namespace with a /run/netns name at once).
class NamespaceFinder {
 public:
  explicit NamespaceFinder(uint64_t recheck_ns = 5'000'000'000, std::string proc_root = "/proc",
                           std::string named_root = "/run/netns")
      : recheck_ns_(recheck_ns), proc_root_(std::move(proc_root)), named_root_(std::move(named_root)) {}
  std::vector<NetnsSnapshot> find(uint64_t now_ns);
  uint64_t pids_statted() const { return pids_statted_; }  // over the finder's life

 private:
  uint64_t recheck_ns_;
  std::string proc_root_, named_root_;
  std::unordered_map<uint32_t, uint32_t> netns_of_pid_;
  uint64_t next_recheck_ns_ = 0, pids_statted_ = 0;
};
// What a snapshot asks the kernel for. Listeners come from the listening hash, a few dozen
// buckets: always cheap. SYN_RECV and CLOSE_WAIT sockets live in the established hash, which the
// kernel walks whole, every bucket and every socket of every namespace, once per namespace and
// address family asked: under connection churn that walk is milliseconds. TIME_WAIT sockets are
// there too, and listing them costs more again (the kernel formats each one, holding its bucket's
// lock); their count comes from sockstat either way.
struct SnapshotScope {
  bool connections = true;  // walk the established hash for SYN_RECV and CLOSE_WAIT
  bool time_wait = true;    // and list TIME_WAIT sockets (only with connections)
  bool one_request = true;  // both families in one request, where the kernel takes it (false: one each)
  // With connections: ESTABLISHED sockets too, asked for only while some listener has connections
  // queued (a server under pressure), to see whether its owner accepts and reads them.
  bool established = false;
};
// Fills sockets and counters of each namespace, entering them from a helper thread so the
// caller's own namespace never changes. Returns the CPU time the snapshot took (the helper
// thread's, kernel time included: that is where the hash walks run), in ns.
uint64_t snapshot_namespaces(std::vector<NetnsSnapshot> &namespaces, SnapshotScope scope = {});
// The "tw" figure (or another, `field`) of /proc/net/sockstat's "TCP:" line; 0 when absent.
uint64_t parse_sockstat_time_wait(const std::string &text, const char *field = "tw");

// /proc/net/netstat or /proc/net/snmp text ("Prefix: names\nPrefix: values" pairs) into
// counters; only the TcpExt and Tcp lines are kept. Tcp counters take a "Tcp" prefix
// ("TcpRetransSegs") as nstat names them, TcpExt ones none ("ListenOverflows").
void parse_proc_net_counters(const std::string &text, std::map<std::string, uint64_t> &counters);

struct SocketOwner {
  uint32_t pid = 0;
  std::string comm;
  // Every process holding it (all_holders only): nginx's master and its workers share one listener.
  std::vector<uint32_t> pids;
};
// Which process holds each of `inodes` open (first match by pid order), scanning /proc/*/fd;
// with all_holders, every process that holds it (the whole of /proc is read).
std::unordered_map<uint64_t, SocketOwner> find_socket_owners(const std::vector<uint64_t> &inodes,
                                                             const std::string &proc_root = "/proc",
                                                             bool all_holders = false);

}  // namespace triage::tcp

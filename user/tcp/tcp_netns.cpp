#include "tcp/tcp_netns.h"

#include <dirent.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>
#include <unordered_set>

#include <fmt/format.h>

#include "tcp/tcp_abi.h"

namespace triage::tcp {
namespace {

// Only the states the snapshots need: a dump of every ESTABLISHED socket on a busy server would
// cost far more than these. SYN_RECV also selects request sockets (TCP_NEW_SYN_RECV). A request
// for LISTEN alone never touches the established hash.
constexpr uint32_t kListenStates = 1u << TCP_ST_LISTEN;
constexpr uint32_t kConnectionStates = (1u << TCP_ST_SYN_RECV) | (1u << TCP_ST_NEW_SYN_RECV) | (1u << TCP_ST_CLOSE_WAIT);

std::string read_file(const std::string &path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Runs in the helper thread, already inside the namespace.
void snapshot_current(NetnsSnapshot &ns, SnapshotScope scope) {
  uint32_t states = kListenStates;
  if (scope.connections) states |= kConnectionStates | (scope.time_wait ? 1u << TCP_ST_TIME_WAIT : 0);
  if (scope.connections && scope.established) states |= 1u << TCP_ST_ESTABLISHED;
  std::string error;
  UniqueFd netlink = open_sock_diag(error);
  if (!netlink) {
    ns.error = error;
  } else {
    SockDiagDump dump{AF_UNSPEC, states, /*tcp_info=*/true};
    ns.one_request = scope.one_request && dump_tcp_sockets(netlink.get(), dump, ns.sockets, error);
    if (!ns.one_request) {
      // A kernel without the old request: one walk per family. What a dump that failed halfway
      // delivered is dropped, or it would be counted twice.
      ns.sockets.clear();
      for (uint8_t family : {AF_INET, AF_INET6}) {
        dump.family = family;
        // An IPv6-less kernel answers the AF_INET6 dump with an error; IPv4 still counts.
        if (!dump_tcp_sockets(netlink.get(), dump, ns.sockets, error) && family == AF_INET) ns.error = error;
      }
    }
    ns.connections_walked = scope.connections && ns.error.empty();
    ns.time_wait_listed = scope.connections && scope.time_wait && ns.error.empty();
  }
  // thread-self: /proc/net follows the thread group leader, which stays in the caller's namespace.
  parse_proc_net_counters(read_file("/proc/thread-self/net/netstat"), ns.counters);
  parse_proc_net_counters(read_file("/proc/thread-self/net/snmp"), ns.counters);
  std::string sockstat = read_file("/proc/thread-self/net/sockstat");
  ns.time_wait_count = parse_sockstat_time_wait(sockstat);
  ns.in_use_count = parse_sockstat_time_wait(sockstat, "inuse");
}

uint32_t inode_of(const std::string &path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? static_cast<uint32_t>(st.st_ino) : 0;
}

}  // namespace

void parse_proc_net_counters(const std::string &text, std::map<std::string, uint64_t> &counters) {
  std::istringstream in(text);
  std::string names, values;
  while (std::getline(in, names) && std::getline(in, values)) {
    std::istringstream n(names), v(values);
    std::string prefix, value_prefix;
    n >> prefix;
    v >> value_prefix;
    if (prefix != value_prefix || (prefix != "TcpExt:" && prefix != "Tcp:")) continue;
    std::string name, value;
    while (n >> name && v >> value) {
      char *end = nullptr;
      // Tcp: MaxConn is -1 on Linux; signed values are not counters.
      long long parsed = std::strtoll(value.c_str(), &end, 10);
      if (parsed < 0) continue;
      counters[prefix == "Tcp:" ? "Tcp" + name : name] = static_cast<uint64_t>(parsed);
    }
  }
}

uint64_t parse_sockstat_time_wait(const std::string &text, const char *field) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("TCP:", 0) != 0) continue;
    std::istringstream fields(line.substr(4));
    std::string name, value;
    while (fields >> name >> value)
      if (name == field) return std::strtoull(value.c_str(), nullptr, 10);
  }
  return 0;
}

std::vector<NetnsSnapshot> NamespaceFinder::find(uint64_t now_ns) {
  std::vector<NetnsSnapshot> out;
  std::unordered_map<uint32_t, size_t> index_of;  // namespace inode -> its entry in out
  auto add = [&](uint32_t ino, const std::string &name, uint32_t pid) {
    auto [it, fresh] = index_of.try_emplace(ino, out.size());
    if (fresh) {
      out.push_back({ino, name, pid});
      return;
    }
    auto &ns = out[it->second];
    if (ns.name.empty()) ns.name = name;
    if (!ns.pid) ns.pid = pid;
  };
  // Our own first: it is the machine's namespace for a triage run from the host.
  if (uint32_t self = inode_of(proc_root_ + "/self/ns/net")) add(self, "", static_cast<uint32_t>(::getpid()));
  if (DIR *run = ::opendir(named_root_.c_str())) {
    while (dirent *e = ::readdir(run)) {
      if (e->d_name[0] == '.') continue;
      if (uint32_t ino = inode_of(named_root_ + "/" + e->d_name)) add(ino, e->d_name, 0);
    }
    ::closedir(run);
  }
  const bool recheck = now_ns >= next_recheck_ns_;
  if (recheck) next_recheck_ns_ = now_ns + recheck_ns_;
  std::unordered_map<uint32_t, uint32_t> now_of_pid;  // pids gone since drop out
  now_of_pid.reserve(netns_of_pid_.size());
  if (DIR *proc = ::opendir(proc_root_.c_str())) {
    while (dirent *e = ::readdir(proc)) {
      if (e->d_name[0] < '1' || e->d_name[0] > '9') continue;
      uint32_t pid = static_cast<uint32_t>(std::strtoul(e->d_name, nullptr, 10));
      auto known = netns_of_pid_.find(pid);
      uint32_t ino = 0;
      if (!recheck && known != netns_of_pid_.end()) {
        ino = known->second;
      } else {
        ino = inode_of(proc_root_ + "/" + e->d_name + "/ns/net");
        pids_statted_++;
      }
      if (!ino) continue;  // a kernel thread, or gone already: asked again next time
      now_of_pid[pid] = ino;
      add(ino, "", pid);
    }
    ::closedir(proc);
  }
  netns_of_pid_ = std::move(now_of_pid);
  return out;
}

uint64_t snapshot_namespaces(std::vector<NetnsSnapshot> &namespaces, SnapshotScope scope) {
  uint64_t cpu_ns = 0;
  // setns() moves only the calling thread: a helper thread walks the namespaces and dies, so the
  // recorder's thread (and any socket it opens later) stays where it was.
  std::thread walker([&namespaces, scope, &cpu_ns] {
    uint32_t current = inode_of("/proc/thread-self/ns/net");
    for (auto &ns : namespaces) {
      if (ns.inode != current) {
        std::string path = !ns.name.empty() ? "/run/netns/" + ns.name : fmt::format("/proc/{}/ns/net", ns.pid);
        UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
        // The process may have exited since the listing; /proc/<pid>/ns/net of a reused pid is
        // caught by checking the inode of what we opened.
        struct stat st {};
        if (fd.get() < 0 || ::fstat(fd.get(), &st) != 0 || st.st_ino != ns.inode) {
          ns.error = "namespace vanished";
          continue;
        }
        if (::setns(fd.get(), CLONE_NEWNET) != 0) {
          ns.error = fmt::format("setns: {}", std::strerror(errno));
          continue;
        }
        current = ns.inode;
      }
      snapshot_current(ns, scope);
    }
    timespec used{};
    if (::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &used) == 0)
      cpu_ns = static_cast<uint64_t>(used.tv_sec) * 1'000'000'000 + static_cast<uint64_t>(used.tv_nsec);
  });
  walker.join();
  return cpu_ns;
}

std::unordered_map<uint64_t, SocketOwner> find_socket_owners(const std::vector<uint64_t> &inodes,
                                                             const std::string &proc_root, bool all_holders) {
  std::unordered_map<uint64_t, SocketOwner> owners;
  if (inodes.empty()) return owners;
  std::unordered_set<uint64_t> wanted(inodes.begin(), inodes.end());
  std::vector<uint32_t> pids;
  if (DIR *proc = ::opendir(proc_root.c_str())) {
    while (dirent *e = ::readdir(proc))
      if (e->d_name[0] >= '1' && e->d_name[0] <= '9') pids.push_back(std::strtoul(e->d_name, nullptr, 10));
    ::closedir(proc);
  }
  std::sort(pids.begin(), pids.end());
  for (uint32_t pid : pids) {
    std::string fd_dir = fmt::format("{}/{}/fd", proc_root, pid);
    DIR *dir = ::opendir(fd_dir.c_str());
    if (!dir) continue;
    while (dirent *e = ::readdir(dir)) {
      if (e->d_name[0] == '.') continue;
      char target[64] = {};
      ssize_t n = ::readlink((fd_dir + "/" + e->d_name).c_str(), target, sizeof target - 1);
      if (n <= 0 || std::strncmp(target, "socket:[", 8) != 0) continue;
      uint64_t inode = std::strtoull(target + 8, nullptr, 10);
      if (!wanted.count(inode)) continue;
      if (auto known = owners.find(inode); known != owners.end()) {
        if (all_holders && known->second.pids.back() != pid) known->second.pids.push_back(pid);
        continue;
      }
      std::string comm = read_file(fmt::format("{}/{}/comm", proc_root, pid));
      while (!comm.empty() && comm.back() == '\n') comm.pop_back();
      owners[inode] = {pid, comm, {pid}};
    }
    ::closedir(dir);
    if (!all_holders && owners.size() == wanted.size()) break;
  }
  return owners;
}

}  // namespace triage::tcp

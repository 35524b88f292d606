// Helpers shared by the tcp live tests: throw-away network namespaces (deleted on every path out
// of a test), entering one from a child process, and the namespace's own TCP counters.
#pragma once

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <map>
#include <set>
#include <string>

#include <nlohmann/json.hpp>

#include "live_support.h"
#include "tcp/tcp_netns.h"

namespace tcplive {

// Namespaces alive in this test: live::skip() exits without unwinding, so skipping goes through
// tcplive::skip, which deletes them first.
inline std::set<std::string> &live_namespaces() {
  static std::set<std::string> names;
  return names;
}

[[noreturn]] inline void skip(const std::string &reason) {
  for (const auto &name : live_namespaces()) live::run({"ip", "netns", "del", name});
  live::skip(reason);
}

// `ip netns add` with a name unique to this test run; `ip netns del` when it goes out of scope.
class NetNs {
 public:
  explicit NetNs(const std::string &prefix) : name_(prefix + "-" + std::to_string(::getpid())) {
    live::run({"ip", "netns", "del", name_});  // a leftover of a killed run
    auto r = live::run({"ip", "netns", "add", name_});
    if (r.exit_code != 0) skip("ip netns add failed: " + r.err);
    live_namespaces().insert(name_);
    live::run({"ip", "-n", name_, "link", "set", "lo", "up"});
  }
  ~NetNs() {
    live::run({"ip", "netns", "del", name_});
    live_namespaces().erase(name_);
  }
  NetNs(const NetNs &) = delete;
  NetNs &operator=(const NetNs &) = delete;
  const std::string &name() const { return name_; }
  uint64_t inode() const {
    struct stat st {};
    return ::stat(("/run/netns/" + name_).c_str(), &st) == 0 ? st.st_ino : 0;
  }
  // TcpExt and Tcp counters as the namespace sees them.
  std::map<std::string, uint64_t> counters() const {
    auto r = live::run({"ip", "netns", "exec", name_, "sh", "-c", "cat /proc/net/netstat; cat /proc/net/snmp"});
    std::map<std::string, uint64_t> out;
    triage::tcp::parse_proc_net_counters(r.out, out);
    return out;
  }
  // Moves the calling process (a live::Child) into the namespace; exits the child on failure.
  void enter() const {
    int fd = ::open(("/run/netns/" + name_).c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0 || ::setns(fd, CLONE_NEWNET) != 0) std::_Exit(90);
    ::close(fd);
  }

 private:
  std::string name_;
};

inline uint64_t delta(const std::map<std::string, uint64_t> &before, const std::map<std::string, uint64_t> &after,
                      const std::string &key) {
  uint64_t b = before.count(key) ? before.at(key) : 0, a = after.count(key) ? after.at(key) : 0;
  return a > b ? a - b : 0;
}

inline sockaddr_in ipv4(const char *addr, uint16_t port) {
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  inet_pton(AF_INET, addr, &sa.sin_addr);
  return sa;
}

inline int listen_on(const char *addr, uint16_t port, int backlog) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in sa = ipv4(addr, port);
  if (::bind(fd, reinterpret_cast<sockaddr *>(&sa), sizeof sa) != 0 || ::listen(fd, backlog) != 0) std::_Exit(91);
  return fd;
}

// Closes with a RST instead of a FIN: the peer's state ends at once, with no FIN retransmits.
inline void abort_close(int fd) {
  linger l{1, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
  ::close(fd);
}

inline const nlohmann::json *find_finding(const nlohmann::json &report, const std::string &id) {
  for (const auto &f : report["findings"])
    if (f.value("id", "") == id) return &f;
  return nullptr;
}

}  // namespace tcplive

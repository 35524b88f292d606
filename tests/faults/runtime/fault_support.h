// Support for the runtime fault suite (tests/faults/runtime/): the kernel's own view of BPF
// objects (bpftool), a tiny tmpfs to fill, seeded randomness and event storms. Built on
// tests/live/live_support.h.
#pragma once

#include <fcntl.h>
#include <sched.h>
#include <sqlite3.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "live_support.h"

namespace faults {

// The sched outliers a recording holds: raw ring-buffer records in event_blocks (schema 2) plus
// JSON rows in events (schema 1).
inline constexpr const char *kSchedEventsStored =
    "SELECT (SELECT count(*) FROM events WHERE family = 'sched') + "
    "(SELECT coalesce(sum(count), 0) FROM event_blocks WHERE family = 'sched')";

// Ids of BPF programs and links.
struct BpfObjects {
  std::set<uint64_t> progs, links;
};

// What the kernel has loaded, through bpftool.
inline std::set<uint64_t> bpftool_ids(const std::string &kind) {
  auto r = live::run({"bpftool", "-j", kind, "show"});
  if (r.exit_code != 0) throw std::runtime_error("bpftool " + kind + " show failed: " + r.err);
  std::set<uint64_t> ids;
  for (const auto &o : nlohmann::json::parse(r.out.empty() ? "[]" : r.out)) ids.insert(o.value("id", 0ULL));
  return ids;
}

inline BpfObjects bpf_objects() { return {bpftool_ids("prog"), bpftool_ids("link")}; }

// Those a process holds file descriptors to, from /proc/<pid>/fdinfo (bpftool's "pids" field
// needs a bpftool built with BPF skeletons, which Debian's is not).
inline BpfObjects bpf_objects_of(pid_t pid) {
  BpfObjects out;
  std::error_code ec;
  for (const auto &entry : std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/fdinfo", ec)) {
    std::ifstream in(entry.path());
    std::string line;
    uint64_t prog_id = 0, link_id = 0;
    while (std::getline(in, line)) {
      if (line.rfind("prog_id:", 0) == 0) prog_id = std::strtoull(line.c_str() + 8, nullptr, 10);
      if (line.rfind("link_id:", 0) == 0) link_id = std::strtoull(line.c_str() + 8, nullptr, 10);
    }
    // A link's fdinfo names its program too: the program is held through the link.
    if (link_id) out.links.insert(link_id);
    if (prog_id) out.progs.insert(prog_id);
  }
  return out;
}

// A tmpfs of `size` (e.g. "1m") mounted on a fresh directory, unmounted (lazily, so that a file
// still open cannot keep it) when the object dies, whatever the test did.
class Tmpfs {
 public:
  explicit Tmpfs(const std::string &size) {
    std::string options = "size=" + size + ",mode=0700";
    if (::mount("triage-faults", dir_.path().c_str(), "tmpfs", MS_NOSUID | MS_NODEV, options.c_str()) != 0) {
      if (errno == EPERM) live::skip("cannot mount a tmpfs here (EPERM: a container without CAP_SYS_ADMIN?)");
      throw std::runtime_error(std::string("mount tmpfs failed: ") + std::strerror(errno));
    }
    mounted_ = true;
  }
  ~Tmpfs() {
    if (mounted_) ::umount2(dir_.path().c_str(), MNT_DETACH);
  }
  std::string file(const std::string &name) const { return dir_.file(name); }

 private:
  live::TempDir dir_;
  bool mounted_ = false;
};

// The seed of a test's random choices: TRIAGE_FAULT_SEED to replay a run, else a fresh one.
// Printed, so that a failure can be replayed.
inline uint64_t seed() {
  uint64_t s = 0;
  if (const char *env = std::getenv("TRIAGE_FAULT_SEED")) s = std::strtoull(env, nullptr, 0);
  else s = std::random_device{}() ^ (static_cast<uint64_t>(std::random_device{}()) << 32);
  std::printf("fault seed: %llu (replay with TRIAGE_FAULT_SEED=%llu)\n", static_cast<unsigned long long>(s),
              static_cast<unsigned long long>(s));
  std::fflush(stdout);
  return s;
}

// One integer from a query on a recording (opened read-only).
inline int64_t query_int(const std::string &db_path, const std::string &sql) {
  sqlite3 *db = nullptr;
  int64_t value = -1;
  if (sqlite3_open_v2(db_path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK) {
    sqlite3_stmt *stmt = nullptr;
    if (sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr) == SQLITE_OK && sqlite3_step(stmt) == SQLITE_ROW)
      value = sqlite3_column_int64(stmt, 0);
    sqlite3_finalize(stmt);
  }
  sqlite3_close(db);
  return value;
}

inline uint64_t file_size(const std::string &path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0;
}

// A context-switch storm: on every CPU, `pairs` pairs of processes pinned to that CPU pass one
// byte back and forth through pipes, so that every pass is a wakeup, a run-queue wait and a
// switch (what `stress-ng --switch` does). Stops when the object dies.
class SwitchStorm {
 public:
  explicit SwitchStorm(int pairs_per_cpu = 2) {
    long ncpu = ::sysconf(_SC_NPROCESSORS_ONLN);
    for (int cpu = 0; cpu < ncpu; cpu++)
      for (int i = 0; i < pairs_per_cpu; i++) {
        int ping[2], pong[2];
        if (::pipe(ping) || ::pipe(pong)) throw std::runtime_error("pipe failed");
        children_.push_back(std::make_unique<live::Child>("storm_ping", [=] { bounce(pong[0], ping[1], true); }, cpu));
        children_.push_back(std::make_unique<live::Child>("storm_pong", [=] { bounce(ping[0], pong[1], false); }, cpu));
        for (int fd : {ping[0], ping[1], pong[0], pong[1]}) ::close(fd);
      }
  }
  std::vector<pid_t> pids() const {
    std::vector<pid_t> out;
    for (const auto &c : children_) out.push_back(c->pid());
    return out;
  }

 private:
  [[noreturn]] static void bounce(int in, int out, bool starts) {
    char byte = 0;
    if (starts && ::write(out, &byte, 1) != 1) std::_Exit(1);
    for (;;) {
      if (::read(in, &byte, 1) != 1) std::_Exit(0);
      if (::write(out, &byte, 1) != 1) std::_Exit(0);
    }
  }
  std::vector<std::unique_ptr<live::Child>> children_;
};

}  // namespace faults

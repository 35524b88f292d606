// Live: a child in a fresh memory cgroup allocates until the OOM killer kills it. The report must
// name its pid, comm and cgroup with a memory-cgroup constraint, and count as many kills as
// /proc/vmstat's oom_kill moved.
#include <catch2/catch.hpp>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "live_support.h"

namespace {

constexpr unsigned long long kLimitBytes = 64ULL << 20;
constexpr size_t kChunk = 1 << 20;
constexpr unsigned kChildDeadlineS = 30;  // a child never killed dies of SIGALRM: the test then fails

unsigned long long vmstat_oom_kill() {
  std::ifstream in("/proc/vmstat");
  std::string key;
  unsigned long long value;
  while (in >> key >> value)
    if (key == "oom_kill") return value;
  live::skip("/proc/vmstat has no oom_kill counter (kernel before 4.13)");
}

bool write_file(const std::string &path, const std::string &value) {
  std::ofstream out(path);
  out << value;
  out.flush();
  return static_cast<bool>(out);
}

// A memory cgroup with a limit, v1 (hybrid: its own memory hierarchy) or v2, removed at the end.
class MemoryCgroup {
 public:
  MemoryCgroup() {
    std::string name = "triage-oom-" + std::to_string(::getpid());
    if (std::filesystem::exists("/sys/fs/cgroup/memory/memory.limit_in_bytes")) {
      dir_ = "/sys/fs/cgroup/memory/" + name;
      limit_file_ = "memory.limit_in_bytes";
    } else if (std::filesystem::exists("/sys/fs/cgroup/cgroup.controllers")) {
      dir_ = "/sys/fs/cgroup/" + name;
      limit_file_ = "memory.max";
    } else {
      live::skip("no memory cgroup controller mounted");
    }
    path_ = "/" + name;
    std::error_code ec;
    if (!std::filesystem::create_directory(dir_, ec)) live::skip("cannot create " + dir_ + ": " + ec.message());
    if (!write_file(dir_ + "/" + limit_file_, std::to_string(kLimitBytes))) live::skip("cannot set " + limit_file_);
    // Swap would let the child grow past the limit slowly instead of being killed.
    if (limit_file_ == "memory.max") write_file(dir_ + "/memory.swap.max", "0");
    else {
      write_file(dir_ + "/memory.swappiness", "0");
      write_file(dir_ + "/memory.memsw.limit_in_bytes", std::to_string(kLimitBytes));
    }
  }
  ~MemoryCgroup() {
    // The cgroup empties once its last task is reaped; rmdir may need a moment after that.
    for (int i = 0; i < 50 && ::rmdir(dir_.c_str()) != 0 && errno == EBUSY; i++) live::sleep_s(0.1);
  }
  const std::string &dir() const { return dir_; }
  const std::string &path() const { return path_; }  // as the kernel names it: "/triage-oom-N"

 private:
  std::string dir_, path_, limit_file_;
};

[[noreturn]] void allocate_until_killed(const std::string &cgroup_dir) {
  if (!write_file(cgroup_dir + "/cgroup.procs", std::to_string(::getpid()))) std::_Exit(3);
  ::alarm(kChildDeadlineS);
  for (;;) {
    char *chunk = static_cast<char *>(std::malloc(kChunk));
    if (!chunk) std::_Exit(4);
    std::memset(chunk, 0x5a, kChunk);  // touched: charged to the cgroup
  }
}

}  // namespace

TEST_CASE("oom: a memory cgroup kill is reported with pid, comm, cgroup and constraint", "[live][oom]") {
  live::TempDir tmp;
  MemoryCgroup cgroup;
  live::Recording rec(tmp.file("rec.db"), {"-d", "60", "--probes", "oom"});
  REQUIRE(rec.wait_attached());
  unsigned long long kills_before = vmstat_oom_kill();

  pid_t hog_pid;
  {
    live::Child hog("oomhog", [&] { allocate_until_killed(cgroup.dir()); });
    hog_pid = hog.pid();
    // Left a zombie (WNOWAIT) so the pid cannot be reused before Child reaps it.
    siginfo_t info{};
    REQUIRE(::waitid(P_PID, static_cast<id_t>(hog_pid), &info, WEXITED | WNOWAIT) == 0);
    INFO("child ended with si_code " << info.si_code << " status " << info.si_status);
    REQUIRE(info.si_code == CLD_KILLED);
    REQUIRE(info.si_status == SIGKILL);
  }
  live::sleep_s(1.5);  // the kill's records and log lines reach the recorder
  unsigned long long kills_after = vmstat_oom_kill();
  rec.signal(SIGINT);
  REQUIRE(rec.wait() == 0);

  nlohmann::json report = live::report_json(tmp.file("rec.db"));
  const auto &oom = report["oom"];
  REQUIRE(oom.is_object());
  std::printf("oom live: /proc/vmstat oom_kill delta %llu, report count %llu (marks %llu, lost %llu)\n",
              kills_after - kills_before, oom.value("count", 0ULL), oom.value("marks", 0ULL),
              oom.value("lost_events", 0ULL));
  CHECK(oom["count"] == kills_after - kills_before);
  CHECK(oom["lost_events"] == 0);

  const nlohmann::json *kill = nullptr;
  for (const auto &k : oom["kills"])
    if (k["victim_pid"] == hog_pid) kill = &k;
  INFO(oom.dump(2));
  REQUIRE(kill != nullptr);
  std::printf("oom live: %s\n", kill->dump().c_str());
  CHECK((*kill)["victim_comm"] == "oomhog");
  CHECK((*kill)["memcg"] == cgroup.path());
  CHECK((*kill)["constraint"] == "memcg");
  CHECK((*kill)["memcg_limit_kb"] == kLimitBytes / 1024);
  CHECK((*kill)["victim_rss_kb"].get<unsigned long long>() > kLimitBytes / 1024 / 2);
  CHECK((*kill)["trigger_pid"] == hog_pid);  // it allocated itself into the OOM

  bool finding = false;
  for (const auto &f : report["findings"])
    finding |= f["id"] == "oom-kill" && f["severity"] == "critical";
  CHECK(finding);
}

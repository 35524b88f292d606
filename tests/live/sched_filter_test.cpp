// -p and --cgroup are applied in the kernel to the task that waits: only the chosen process (or
// the processes in the chosen cgroup) appear, however busy the others are.
#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <memory>

#include "test_binary.h"
#include "live_support.h"

namespace {

bool appears(const nlohmann::json &rows, pid_t pid) {
  for (const auto &r : rows)
    if (r["pid"] == pid) return true;
  return false;
}

// A cgroup v2 directory (the unified hierarchy, wherever it is mounted), removed at the end.
class V2Cgroup {
 public:
  V2Cgroup() {
    auto mount = live::sh("awk '$3 == \"cgroup2\" {print $2; exit}' /proc/self/mounts");
    std::string root = mount.out.substr(0, mount.out.find('\n'));
    if (root.empty()) live::skip("no cgroup v2 hierarchy mounted");
    path_ = root + "/triage-filter-" + std::to_string(::getpid());
    if (::mkdir(path_.c_str(), 0755) != 0) live::skip("cannot create a cgroup under " + root);
  }
  ~V2Cgroup() { ::rmdir(path_.c_str()); }
  bool add(pid_t pid) const {
    std::ofstream procs(path_ + "/cgroup.procs");
    procs << pid << std::flush;
    return procs.good();
  }
  const std::string &path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace

TEST_CASE("sched: -p keeps only the chosen process") {
  live::TempDir dir;
  live::Child chosen("triage-chosen", [] { live::spin_forever(); }, 0);
  live::Child other("triage-other", [] { live::spin_forever(); }, 0);
  live::sleep_s(0.2);
  live::Recording rec(dir.file("pid.db"), {"-d", "3", "--probes", "sched", "-p", std::to_string(chosen.pid())});
  REQUIRE(rec.wait_attached());
  REQUIRE(rec.wait() == 0);
  auto sched = live::report_json(dir.file("pid.db"))["sched"];
  INFO(sched["top_runq"].dump());
  CHECK(appears(sched["top_runq"], chosen.pid()));
  CHECK(!appears(sched["top_runq"], other.pid()));
  CHECK(sched["top_runq"].size() == 1);
}

TEST_CASE("sched: --cgroup keeps only tasks in that cgroup") {
  live::TempDir dir;
  V2Cgroup cgroup;
  live::Child inside("triage-inside", [] { live::spin_forever(); }, 0);
  live::Child outside("triage-outside", [] { live::spin_forever(); }, 0);
  REQUIRE(cgroup.add(inside.pid()));
  live::sleep_s(0.2);
  live::Recording rec(dir.file("cg.db"), {"-d", "3", "--probes", "sched", "--cgroup", cgroup.path()});
  REQUIRE(rec.wait_attached());
  REQUIRE(rec.wait() == 0);
  auto sched = live::report_json(dir.file("cg.db"))["sched"];
  INFO(sched["top_runq"].dump());
  CHECK(appears(sched["top_runq"], inside.pid()));
  CHECK(!appears(sched["top_runq"], outside.pid()));
  inside.kill_and_reap();  // a cgroup with a live process in it cannot be removed
}

TEST_CASE("record: a cgroup or pid that does not exist is exit 2 with one line") {
  auto r = live::run({triage_test_binary(), "record", "-d", "1", "--cgroup", "/sys/fs/cgroup/does-not-exist"});
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("does-not-exist") != std::string::npos);
  r = live::run({triage_test_binary(), "record", "-d", "1", "-p", "4194000"});
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("no such process") != std::string::npos);
}

TEST_CASE("record: without root, exit 3 naming what is missing") {
  live::require_tool("setpriv");
  live::TempDir dir;
  ::chmod(dir.path().c_str(), 0777);
  auto r = live::run({"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", triage_test_binary(), "record", "-d",
                      "1", "-o", dir.file("x.db")});
  CHECK(r.exit_code == 3);
  CHECK(r.err.find("root") != std::string::npos);
  auto probes = live::run({"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", triage_test_binary(), "probes"});
  CHECK(probes.exit_code == 3);
  CHECK(probes.out.find("not root") != std::string::npos);
}

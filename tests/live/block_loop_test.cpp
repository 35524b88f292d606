// Live: direct I/O on a loop device backed by a file in a temp dir. The report's completed request
// counts must equal /proc/diskstats over the same stretch, its p50 must be within a factor of 2
// of biolatency's (libbpf-tools) over the same I/O, and the process in D must be tied to the device.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

#include "live_support.h"

namespace {

constexpr const char *kBiolatency = "/usr/sbin/biolatency";
constexpr size_t kBackingBytes = 64 << 20;
constexpr int kRequestsEach = 3000;  // reads and writes, 4 KiB each
constexpr size_t kBlock = 4096;

// A loop device over a file; detached on every path out of the test.
class LoopDevice {
 public:
  explicit LoopDevice(const std::string &backing) {
    auto r = live::run({"losetup", "--find", "--show", backing});
    if (r.exit_code != 0) live::skip("losetup failed: " + r.err);
    device_ = r.out.substr(0, r.out.find('\n'));
    // udev probes a new block device (blkid): let it finish before the measured stretch.
    live::sh("udevadm settle -t 10 >/dev/null 2>&1");
    struct stat st {};
    ::stat(device_.c_str(), &st);
    major_ = major(st.st_rdev);
    minor_ = minor(st.st_rdev);
    name_ = device_.substr(device_.rfind('/') + 1);
  }
  ~LoopDevice() {
    if (!device_.empty()) live::run({"losetup", "-d", device_});
  }
  const std::string &path() const { return device_; }
  const std::string &name() const { return name_; }
  std::string dev() const { return std::to_string(major_) + ":" + std::to_string(minor_); }
  unsigned major_num() const { return major_; }
  unsigned minor_num() const { return minor_; }

 private:
  std::string device_, name_;
  unsigned major_ = 0, minor_ = 0;
};

struct DiskStats {
  unsigned long long reads = 0, writes = 0;
};

DiskStats read_diskstats(unsigned maj, unsigned min) {
  std::ifstream in("/proc/diskstats");
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream f(line);
    unsigned a, b;
    std::string name;
    unsigned long long reads, reads_merged, sectors_read, ms_reading, writes;
    f >> a >> b >> name >> reads >> reads_merged >> sectors_read >> ms_reading >> writes;
    if (a == maj && b == min) return {reads, writes};
  }
  throw std::runtime_error("device not in /proc/diskstats");
}

// biolatency's histogram ("  lo -> hi : count |***|") and its median, interpolated inside the
// bucket the way triage's own percentile does.
struct Biolatency {
  unsigned long long count = 0;
  double p50_us = 0;
};

Biolatency parse_biolatency(const std::string &text) {
  std::vector<std::tuple<double, double, unsigned long long>> buckets;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    unsigned long long lo, hi, count;
    if (std::sscanf(line.c_str(), " %llu -> %llu : %llu", &lo, &hi, &count) == 3) {
      buckets.emplace_back(static_cast<double>(lo), static_cast<double>(hi + 1), count);
    }
  }
  Biolatency b;
  for (auto &[lo, hi, count] : buckets) b.count += count;
  double rank = 0.5 * static_cast<double>(b.count), seen = 0;
  for (auto &[lo, hi, count] : buckets) {
    if (count && seen + static_cast<double>(count) >= rank) {
      b.p50_us = lo + (rank - seen) / static_cast<double>(count) * (hi - lo);
      break;
    }
    seen += static_cast<double>(count);
  }
  return b;
}

// O_DIRECT 4 KiB writes then reads at scattered offsets: every one is a request of its own, and
// the process sleeps in D (io_schedule) for each.
void direct_io(const std::string &device) {
  int fd = ::open(device.c_str(), O_RDWR | O_DIRECT);
  if (fd < 0) std::_Exit(2);
  void *buf = nullptr;
  if (::posix_memalign(&buf, kBlock, kBlock)) std::_Exit(3);
  std::memset(buf, 0xab, kBlock);
  const size_t blocks = kBackingBytes / kBlock;
  for (int i = 0; i < kRequestsEach; i++)
    if (::pwrite(fd, buf, kBlock, static_cast<off_t>((i * 7919ULL) % blocks * kBlock)) != static_cast<ssize_t>(kBlock))
      std::_Exit(4);
  for (int i = 0; i < kRequestsEach; i++)
    if (::pread(fd, buf, kBlock, static_cast<off_t>((i * 104729ULL) % blocks * kBlock)) != static_cast<ssize_t>(kBlock))
      std::_Exit(5);
  ::close(fd);
}

bool wait_for_text(const std::string &path, const std::string &needle, double timeout_s) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
  while (std::chrono::steady_clock::now() < deadline) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    if (ss.str().find(needle) != std::string::npos) return true;
    live::sleep_s(0.05);
  }
  return false;
}

}  // namespace

TEST_CASE("block: loop device counts match diskstats, p50 matches biolatency, D state is tied", "[live][block]") {
  live::require_tool("losetup");
  live::require_tool("stdbuf");
  if (::access(kBiolatency, X_OK) != 0) live::skip("biolatency (libbpf-tools) is not installed");
  live::TempDir tmp;
  {
    std::ofstream backing(tmp.file("backing.img"), std::ios::binary);
    backing.seekp(kBackingBytes - 1);
    backing.put(0);
  }
  LoopDevice loop(tmp.file("backing.img"));
  INFO("loop device " << loop.path() << " (" << loop.dev() << ")");

  live::Recording rec(tmp.file("rec.db"), {"-d", "60", "--probes", "sched,block"});
  REQUIRE(rec.wait_attached());
  // biolatency in the background, on this disk only; it prints its histogram at SIGINT. Line
  // buffered, so its "Tracing" line shows when it has attached.
  std::string bio_out = tmp.file("biolatency.txt");
  auto bio = live::sh("stdbuf -oL " + std::string(kBiolatency) + " -d " + loop.name() + " >" + bio_out +
                      " 2>&1 & echo $!");
  pid_t bio_pid = std::atoi(bio.out.c_str());
  REQUIRE(bio_pid > 0);
  bool bio_ready = wait_for_text(bio_out, "Tracing", 20);
  if (!bio_ready) ::kill(bio_pid, SIGKILL);
  REQUIRE(bio_ready);

  DiskStats before = read_diskstats(loop.major_num(), loop.minor_num());
  pid_t worker_pid;
  {
    live::Child worker("blkdirect", [&] { direct_io(loop.path()); });
    worker_pid = worker.pid();
    // Left a zombie (WNOWAIT) so the pid cannot be reused before Child reaps it.
    siginfo_t info{};
    REQUIRE(::waitid(P_PID, static_cast<id_t>(worker_pid), &info, WEXITED | WNOWAIT) == 0);
    REQUIRE(info.si_code == CLD_EXITED);
    REQUIRE(info.si_status == 0);
  }
  live::sleep_s(0.3);  // completions land before the counters are read
  DiskStats after = read_diskstats(loop.major_num(), loop.minor_num());
  ::kill(bio_pid, SIGINT);
  wait_for_text(bio_out, "usecs", 10);
  live::sleep_s(1.2);  // at least one full interval after the I/O, so the timeline has it
  rec.signal(SIGINT);
  REQUIRE(rec.wait() == 0);

  nlohmann::json report = live::report_json(tmp.file("rec.db"));
  const auto &block = report["block"];
  REQUIRE(block.is_object());
  const nlohmann::json *device = nullptr;
  for (const auto &d : block["devices"])
    if (d["dev"] == loop.dev()) device = &d;
  REQUIRE(device != nullptr);
  CHECK((*device)["name"] == loop.name());

  unsigned long long reads = (*device)["ops"]["read"]["count"], writes = (*device)["ops"]["write"]["count"];
  unsigned long long misses = block.value("recursion_misses", 0ULL);
  std::printf("block live: diskstats reads %llu writes %llu; report reads %llu writes %llu; unpaired %llu, "
              "recursion misses %llu\n",
              after.reads - before.reads, after.writes - before.writes, reads, writes,
              block.value("unpaired_completions", 0ULL), misses);
  std::ifstream bio_in(bio_out);
  std::stringstream bio_text;
  bio_text << bio_in.rdbuf();
  Biolatency theirs = parse_biolatency(bio_text.str());
  double ours = (*device)["read_write_latency"]["p50"];
  unsigned long long ours_count = (*device)["read_write_latency"]["count"];
  std::printf("block live: p50 %.1f us (triage, %llu requests) vs %.1f us (biolatency, %llu requests)\n", ours,
              ours_count, theirs.p50_us, theirs.count);
  INFO("biolatency output:\n" << bio_text.str());

  // Exact, unless the kernel skipped a nested run of our programs (it says how many times), or no
  // BPF program ran for the completion at all. On this project's sandbox kernel, no tracing
  // program runs while `current` is a thread of PID 1 (the sandbox's agent), also not in a
  // softirq that borrows such a thread: a completion batch landing there is invisible to every
  // BPF program (biolatency too), counts no recursion miss, and only ftrace/perf see it. Then
  // biolatency counts exactly what we count. Seen once in a clean CI run: diskstats 3000 reads,
  // triage and biolatency both 2999; under fio, up to a whole batch (often all 64 in flight).
  unsigned long long diskstats_total = (after.reads - before.reads) + (after.writes - before.writes);
  bool tracepoints_missed = ours_count == theirs.count && ours_count < diskstats_total &&
                            diskstats_total - ours_count <= 2;
  unsigned long long allowed = misses + (tracepoints_missed ? diskstats_total - ours_count : 0);
  auto within_allowed = [&](unsigned long long counted, unsigned long long kernel) {
    return counted == kernel || (counted < kernel && kernel - counted <= allowed);
  };
  CHECK(within_allowed(reads, after.reads - before.reads));
  CHECK(within_allowed(writes, after.writes - before.writes));
  CHECK(after.reads - before.reads >= static_cast<unsigned long long>(kRequestsEach));
  CHECK(after.writes - before.writes >= static_cast<unsigned long long>(kRequestsEach));

  REQUIRE(theirs.count > 0);
  CHECK(ours <= 2 * theirs.p50_us);
  CHECK(ours >= theirs.p50_us / 2);

  // The timeline has the interval(s) with the I/O.
  bool in_timeline = false;
  for (const auto &row : block["timeline"]) in_timeline |= row["dev"] == loop.dev() && row["iops"].get<double>() > 0;
  CHECK(in_timeline);

  // The worker is the submitter, and its D-state time is tied to the loop device.
  bool submitter = false;
  for (const auto &p : block["top_processes"]) submitter |= p["pid"] == worker_pid && p["comm"] == "blkdirect";
  INFO("worker pid " << worker_pid << ", top processes: " << block["top_processes"].dump());
  for (const char *list : {"top_cpu", "top_runq", "top_dstate", "outliers"})
    for (const auto &p : report["sched"][list])
      if (p["pid"] == worker_pid) UNSCOPED_INFO(list << ": " << p.dump());
  CHECK(submitter);
  // Each of its requests is in its row, also those the kernel's per-CPU write-back caches still
  // held when the window ended (block.h, struct block_proc_cache); short only by what the device
  // counts above may be short by.
  unsigned long long worker_count = 0;
  for (const auto &p : block["top_processes"])
    if (p["pid"] == worker_pid)
      for (const auto &d : p["devices"])
        if (d["dev"] == loop.dev()) worker_count = d["count"];
  std::printf("block live: the worker's requests on %s: %llu (it submitted %d)\n", loop.name().c_str(), worker_count,
              2 * kRequestsEach);
  CHECK(within_allowed(worker_count, 2ULL * kRequestsEach));
  CHECK(worker_count <= reads + writes);
  bool tied = false;
  for (const auto &t : block["dstate_devices"])
    if (t["pid"] == worker_pid)
      for (const auto &d : t["devices"]) tied |= d["dev"] == loop.dev();
  CHECK(tied);
}

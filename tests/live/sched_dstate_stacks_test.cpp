// D-state kernel stacks: an fsync storm on ext4 over a loop device keeps its writers in D waiting
// for writeback and the journal. The report's top stack for their D time must be that wait path,
// named from /proc/kallsyms (function names, not addresses).
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "live_support.h"

namespace {

// A 128 MiB ext4 file system on a loop device, mounted for the test's life.
class LoopExt4 {
 public:
  explicit LoopExt4(const live::TempDir &dir) : mount_point_(dir.file("mnt")) {
    const std::string backing = dir.file("backing.img");
    live::sh("dd if=/dev/zero of=" + backing + " bs=1M count=128 status=none");
    auto r = live::run({"losetup", "-f", "--show", backing});
    if (r.exit_code != 0) live::skip("losetup failed: " + r.err);
    device_ = r.out.substr(0, r.out.find('\n'));
    if (live::run({"mkfs.ext4", "-q", "-F", device_}).exit_code != 0) live::skip("mkfs.ext4 failed on " + device_);
    live::sh("mkdir -p " + mount_point_);
    if (auto m = live::run({"mount", device_, mount_point_}); m.exit_code != 0) live::skip("mount failed: " + m.err);
    mounted_ = true;
  }
  ~LoopExt4() {
    if (mounted_) live::run({"umount", "-l", mount_point_});
    live::run({"losetup", "-d", device_});
  }
  const std::string &mount_point() const { return mount_point_; }

 private:
  std::string mount_point_, device_;
  bool mounted_ = false;
};

// Appends 256 KiB and fsyncs, again and again, for `seconds`: each fsync waits for the writeback
// and the journal commit in D.
void fsync_storm(const std::string &path, double seconds) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (fd < 0) std::_Exit(3);
  std::vector<char> buf(256 * 1024, 'x');
  auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  off_t offset = 0;
  while (std::chrono::steady_clock::now() < end) {
    if (::pwrite(fd, buf.data(), buf.size(), offset) != static_cast<ssize_t>(buf.size())) std::_Exit(4);
    offset = (offset + static_cast<off_t>(buf.size())) % (8 << 20);  // 8 MiB per writer: the file system stays far from full
    if (::fsync(fd) != 0) std::_Exit(5);
  }
  ::close(fd);
}

// A frame of the block / writeback / journal wait path, by the names kernels from 5.10 to 6.18
// give it (not one version's exact chain).
bool is_flush_wait_frame(const std::string &frame) {
  static const char *const kPrefixes[] = {"io_schedule", "folio_wait", "wait_on_page", "__wait_on_buffer",
                                          "submit_bio_wait", "blk_mq_", "jbd2_", "file_write_and_wait",
                                          "filemap_fdatawait", "__filemap_fdatawait", "ext4_sync_file",
                                          "wait_for_completion_io", "bit_wait_io", "out_of_line_wait_on_bit"};
  for (const char *prefix : kPrefixes)
    if (frame.rfind(prefix, 0) == 0) return true;
  return frame.find("fsync") != std::string::npos;
}

}  // namespace

TEST_CASE("sched: the top D-state stack of an fsync storm is the flush wait path, symbolized") {
  live::require_tool("losetup");
  live::require_tool("mkfs.ext4");
  live::TempDir dir;
  LoopExt4 fs(dir);
  // -i 0.5: ten samples of the writers' stacks; --threshold-ms 2: an fsync on a fast loop device
  // may wait only a few ms, and the stacks are of waits past the outlier threshold.
  live::Recording rec(dir.file("stacks.db"), {"-d", "6", "-i", "0.5", "--threshold-ms", "2", "--probes", "sched"});
  REQUIRE(rec.wait_attached());
  std::vector<std::unique_ptr<live::Child>> writers;
  for (int i = 0; i < 4; i++)
    writers.push_back(std::make_unique<live::Child>(
        "triage-fsync", [&, i] { fsync_storm(fs.mount_point() + "/f" + std::to_string(i), 4.5); }));
  live::sleep_s(5);
  REQUIRE(rec.wait() == 0);

  auto report = live::report_json(dir.file("stacks.db"));
  bool probe_attached = false;
  for (const auto &p : report["probes"])
    if (p["name"] == "sched_dstate_stacks") {
      INFO("probe: " << p.dump());
      CHECK(p["status"] == "attached");
      probe_attached = p["status"] == "attached";
    }
  REQUIRE(probe_attached);
  const auto &sched = report["sched"];
  REQUIRE(sched.is_object());
  INFO("dstate_stacks: " << sched["dstate_stacks"].dump(1));
  // The writers' stacks, largest D time first (the report's order).
  const nlohmann::json *top = nullptr;
  for (const auto &st : sched["dstate_stacks"]) {
    for (const auto &w : writers)
      if (st["pid"] == w->pid() && !top) top = &st;
  }
  REQUIRE(top != nullptr);
  CHECK((*top)["comm"] == "triage-fsync");
  CHECK((*top)["samples"].get<uint64_t>() >= 1);
  CHECK((*top)["wait_ns"].get<uint64_t>() > 0);
  const auto frames = (*top)["frames"].get<std::vector<std::string>>();
  REQUIRE(frames.size() >= 3);
  size_t named = 0, flush_frames = 0;
  for (const auto &f : frames) {
    if (f.rfind("0x", 0) != 0) named++;
    if (is_flush_wait_frame(f)) flush_frames++;
  }
  CHECK(named == frames.size());  // every frame a kernel symbol, none an address
  CHECK(flush_frames >= 1);
  CHECK(sched["dstate_stacks_total"].get<uint64_t>() >= 1);

  // Judged per slice like every aggregate: two slices' D time on this stack adds up to the window's.
  uint64_t sliced_wait = 0, sliced_samples = 0;
  for (const auto &slice : {std::vector<std::string>{"--to", "3"}, std::vector<std::string>{"--from", "3"}}) {
    auto part = live::report_json(dir.file("stacks.db"), slice);
    for (const auto &st : part["sched"]["dstate_stacks"])
      if (st["pid"] == (*top)["pid"] && st["frames"] == (*top)["frames"]) {
        sliced_wait += st["wait_ns"].get<uint64_t>();
        sliced_samples += st["samples"].get<uint64_t>();
      }
  }
  CHECK(sliced_wait == (*top)["wait_ns"].get<uint64_t>());
  CHECK(sliced_samples == (*top)["samples"].get<uint64_t>());
}

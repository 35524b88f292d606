// D state: a process doing synchronous direct I/O on a loop device sleeps uninterruptibly in
// io_schedule(). The report must name it in top_dstate, count the time as I/O wait, and show
// blocked tasks in the load.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <string>

#include "live_support.h"

namespace {

class LoopDevice {
 public:
  LoopDevice(const std::string &backing_file, int size_mb) {
    live::sh("dd if=/dev/zero of=" + backing_file + " bs=1M count=" + std::to_string(size_mb) + " status=none");
    auto r = live::run({"losetup", "-f", "--show", backing_file});
    if (r.exit_code != 0) live::skip("losetup failed: " + r.err);
    device_ = r.out.substr(0, r.out.find('\n'));
  }
  ~LoopDevice() { live::run({"losetup", "-d", device_}); }
  const std::string &device() const { return device_; }

 private:
  std::string device_;
};

// Writes 4 KiB blocks with O_DIRECT|O_DSYNC for `seconds`: each write waits for the device.
void direct_io_for(const std::string &device, double seconds) {
  int fd = ::open(device.c_str(), O_RDWR | O_DIRECT | O_DSYNC);
  if (fd < 0) std::_Exit(3);
  void *buf = nullptr;
  if (posix_memalign(&buf, 4096, 4096)) std::_Exit(4);
  std::memset(buf, 0x5a, 4096);
  auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  unsigned offset_block = 0;
  while (std::chrono::steady_clock::now() < end) {
    if (::pwrite(fd, buf, 4096, static_cast<off_t>(offset_block % 8192) * 4096) != 4096) std::_Exit(5);
    offset_block += 97;
  }
  ::close(fd);
}

}  // namespace

TEST_CASE("sched: synchronous direct I/O shows as D-state I/O wait") {
  live::require_tool("losetup");
  live::TempDir dir;
  LoopDevice loop(dir.file("backing.img"), 64);
  live::Recording rec(dir.file("dstate.db"), {"-d", "5", "--probes", "sched"});
  REQUIRE(rec.wait_attached());
  live::Child writer("triage-dio", [&] { direct_io_for(loop.device(), 2.5); });
  pid_t pid = writer.pid();
  live::sleep_s(3);
  REQUIRE(rec.wait() == 0);

  auto report = live::report_json(dir.file("dstate.db"));
  const auto &sched = report["sched"];
  REQUIRE(sched.is_object());
  const nlohmann::json *row = nullptr;
  for (const auto &p : sched["top_dstate"])
    if (p["pid"] == pid) row = &p;
  INFO("top_dstate: " << sched["top_dstate"].dump());
  REQUIRE(row != nullptr);
  CHECK((*row)["comm"] == "triage-dio");
  CHECK((*row)["count"].get<uint64_t>() > 100);
  CHECK((*row)["io_ns"].get<uint64_t>() > (*row)["total_ns"].get<uint64_t>() / 2);  // I/O wait, not locks
  CHECK(sched["load_avg"]["blocked"].get<double>() > 0.0);
  CHECK(sched["load_avg"]["blocked_io"].get<double>() > 0.0);
  CHECK(sched["dstate_time"]["count"].get<uint64_t>() > 100);
}

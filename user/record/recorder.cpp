#include "record/recorder.h"

#include <bpf/bpf.h>
#include <linux/magic.h>
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <ctime>
#include <fstream>
#include <map>
#include <sstream>

#include <fmt/format.h>

#include "core/clock.h"
#include "core/family.h"
#include "core/log.h"
#include "report/report.h"
#include "report/text_util.h"
#include "families.h"
#include "snapshot/snapshot.h"

namespace triage {
namespace {

std::string hostname() {
  char name[256] = {};
  ::gethostname(name, sizeof name - 1);
  return name;
}

std::string kernel_release() {
  utsname u{};
  ::uname(&u);
  return u.release;
}

std::string default_output_path() {
  std::time_t now = std::time(nullptr);
  std::tm utc{};
  gmtime_r(&now, &utc);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &utc);
  return fmt::format("triage-{}-{}.db", hostname(), stamp);
}

// The v1 controller a cgroup directory belongs to, from the mount's options ("rw,memory").
std::string v1_controller_of(const std::string &path) {
  std::ifstream mounts("/proc/self/mounts");
  std::string device, mount_point, fstype, options, best_mount, best_options;
  std::string line;
  while (std::getline(mounts, line)) {
    std::istringstream fields(line);
    fields >> device >> mount_point >> fstype >> options;
    if (fstype != "cgroup") continue;
    if (path.rfind(mount_point, 0) == 0 && mount_point.size() > best_mount.size()) {
      best_mount = mount_point;
      best_options = options;
    }
  }
  for (const char *controller : {"memory", "cpu", "cpuacct", "cpuset", "blkio", "io", "pids", "devices", "freezer"}) {
    std::string opts = "," + best_options + ",";
    if (opts.find(fmt::format(",{},", controller)) != std::string::npos) return controller;
  }
  return "";
}

}  // namespace

std::unique_ptr<Family> make_family(const std::string &name) {
  const FamilyEntry *entry = find_family(name);
  return entry ? entry->make() : nullptr;
}

std::vector<ProbeStatus> probe_kernel(const std::vector<std::string> &families, const RecordOptions &options) {
  install_libbpf_logging();
  set_debug_logging(options.debug);
  KernelFeatures kernel;
  std::vector<ProbeStatus> out;
  for (const auto &name : families) {
    auto family = make_family(name);
    if (!family) {
      out.push_back({name, name, "", "", "skipped", "family not implemented in this version"});
      continue;
    }
    if (!KernelFeatures::is_root()) {
      out.push_back({name, name, "", "", "failed", "not root: loading BPF programs needs CAP_BPF and CAP_PERFMON"});
      continue;
    }
    if (!kernel.has_btf()) {
      out.push_back({name, name, "", "", "failed", kernel.btf_error()});
      continue;
    }
    family->attach(options, kernel);
    for (auto &p : family->probes()) out.push_back(p);
    family->detach();
  }
  return out;
}

Result<void> resolve_cgroup(RecordOptions &options, const KernelFeatures &kernel) {
  if (options.cgroup_path.empty()) return {};
  struct stat st {};
  if (::stat(options.cgroup_path.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
    return usage_error(fmt::format("--cgroup {}: no such cgroup directory (give a path under /sys/fs/cgroup)",
                                   options.cgroup_path));
  struct statfs fs {};
  if (::statfs(options.cgroup_path.c_str(), &fs) != 0)
    return usage_error(fmt::format("--cgroup {}: {}", options.cgroup_path, std::strerror(errno)));
  options.cgroup_id = st.st_ino;  // a cgroup's kernfs id is its directory's inode number
  if (static_cast<unsigned long>(fs.f_type) == CGROUP2_SUPER_MAGIC) {
    options.cgroup_subsys = -1;
    return {};
  }
  if (static_cast<unsigned long>(fs.f_type) != CGROUP_SUPER_MAGIC)
    return usage_error(fmt::format("--cgroup {}: not on a cgroup filesystem", options.cgroup_path));
  std::string controller = v1_controller_of(options.cgroup_path);
  // The kernel numbers its controllers in enum cgroup_subsys_id: <name>_cgrp_id.
  int ssid = controller.empty() ? -1 : kernel.enum_value("cgroup_subsys_id", controller + "_cgrp_id");
  if (ssid < 0)
    return usage_error(fmt::format("--cgroup {}: cannot tell which cgroup v1 controller it belongs to",
                                   options.cgroup_path));
  options.cgroup_subsys = ssid;
  return {};
}

namespace {

class SignalWatcher {
 public:
  SignalWatcher() {
    sigemptyset(&mask_);
    for (int sig : {SIGINT, SIGTERM, SIGHUP}) sigaddset(&mask_, sig);
    sigprocmask(SIG_BLOCK, &mask_, &old_mask_);
    fd_ = signalfd(-1, &mask_, SFD_CLOEXEC | SFD_NONBLOCK);
  }
  ~SignalWatcher() {
    if (fd_ >= 0) ::close(fd_);
    sigprocmask(SIG_SETMASK, &old_mask_, nullptr);
  }
  // Waits up to timeout_ms; returns the signal that arrived, or 0.
  int wait(int timeout_ms) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, timeout_ms) <= 0) return 0;
    signalfd_siginfo info{};
    if (::read(fd_, &info, sizeof info) != sizeof info) return 0;
    return static_cast<int>(info.ssi_signo);
  }

 private:
  sigset_t mask_{}, old_mask_{};
  int fd_ = -1;
};

struct ProgramStats {
  uint64_t run_ns = 0, run_cnt = 0;
  std::map<std::string, std::pair<uint64_t, uint64_t>> by_program;  // name -> (run_ns, run_cnt)
};

ProgramStats program_stats(const std::vector<std::unique_ptr<Family>> &families) {
  ProgramStats total;
  for (const auto &f : families)
    for (int fd : f->program_fds()) {
      bpf_prog_info info{};
      uint32_t len = sizeof info;
      if (bpf_obj_get_info_by_fd(fd, &info, &len) == 0) {
        total.run_ns += info.run_time_ns;
        total.run_cnt += info.run_cnt;
        auto &p = total.by_program[fmt::format("{}/{}", f->name(), info.name)];
        p.first += info.run_time_ns;
        p.second += info.run_cnt;
      }
    }
  return total;
}

json per_program_cost(const ProgramStats &before, const ProgramStats &after) {
  json out = json::array();
  for (const auto &[name, totals] : after.by_program) {
    auto it = before.by_program.find(name);
    uint64_t run_ns = totals.first - (it == before.by_program.end() ? 0 : it->second.first);
    uint64_t run_cnt = totals.second - (it == before.by_program.end() ? 0 : it->second.second);
    out.push_back({{"program", name},
                   {"run_ns", run_ns},
                   {"run_cnt", run_cnt},
                   {"ns_per_run", run_cnt ? static_cast<double>(run_ns) / static_cast<double>(run_cnt) : 0.0}});
  }
  return out;
}

bool bpf_stats_enabled() {
  std::ifstream in("/proc/sys/kernel/bpf_stats_enabled");
  int value = 0;
  in >> value;
  return value != 0;
}

class LiveStatus {
 public:
  explicit LiveStatus(bool enabled) : enabled_(enabled && ::isatty(STDERR_FILENO)) {}
  void update(double elapsed_s, uint64_t events, uint64_t lost, size_t probes_attached) {
    if (!enabled_) return;
    double rate = elapsed_s > last_elapsed_ ? static_cast<double>(events - last_events_) / (elapsed_s - last_elapsed_) : 0;
    last_elapsed_ = elapsed_s;
    last_events_ = events;
    fmt::print(stderr, "\r\033[Krecording {:.0f}s  {:.0f} events/s  lost {}  probes {}", elapsed_s, rate, lost,
               probes_attached);
    std::fflush(stderr);
  }
  void finish() {
    if (enabled_) fmt::print(stderr, "\r\033[K");
  }

 private:
  bool enabled_;
  double last_elapsed_ = 0;
  uint64_t last_events_ = 0;
};

}  // namespace

int run_record(const RecordRequest &request) {
  RecordOptions options = request.options;
  install_libbpf_logging();
  set_debug_logging(options.debug);
  KernelFeatures kernel;

  // Usage first: a pid or cgroup that does not exist is a typo to point out before asking for root.
  if (options.pid && ::access(fmt::format("/proc/{}", options.pid).c_str(), F_OK) != 0) {
    fmt::print(stderr, "triage record: -p {}: no such process\n", options.pid);
    return kExitUsage;
  }
  if (struct stat st {}; !options.cgroup_path.empty() &&
                         (::stat(options.cgroup_path.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))) {
    fmt::print(stderr, "triage record: --cgroup {}: no such cgroup directory (give a path under /sys/fs/cgroup)\n",
               printable(options.cgroup_path));
    return kExitUsage;
  }
  if (!KernelFeatures::is_root()) {
    fmt::print(stderr, "triage record: needs root (CAP_BPF, CAP_PERFMON and CAP_SYS_RESOURCE) to load BPF programs\n");
    return kExitNoProbes;
  }
  if (!kernel.has_btf()) {
    fmt::print(stderr, "triage record: {}\n", kernel.btf_error());
    return kExitNoProbes;
  }
  if (auto r = resolve_cgroup(options, kernel); !r) {
    fmt::print(stderr, "triage record: {}\n", printable(r.error().message));
    return r.error().exit_code;
  }

  std::string path = request.output.empty() ? default_output_path() : request.output;
  auto created = RecordingWriter::create(path);
  if (!created) {
    fmt::print(stderr, "triage record: {}\n", printable(created.error().message));
    return created.error().exit_code;
  }
  RecordingWriter &out = **created;

  uint64_t start_mono = monotonic_ns();
  out.set_meta("start_ns", start_mono);
  out.set_meta("start_realtime_ns", realtime_ns());
  out.set_meta("host", hostname());
  out.set_meta("kernel", kernel_release());
  out.set_meta("ncpu", static_cast<int>(::sysconf(_SC_NPROCESSORS_ONLN)));
  out.set_meta("interval_s", options.interval_s);
  out.set_meta("requested_duration_s", options.duration_s);
  out.set_meta("triage_version", TRIAGE_VERSION);
  out.set_meta("families", request.families);
  out.set_meta("filters", {{"pid", options.pid}, {"cgroup", options.cgroup_path}});
  out.set_meta("last_flush_ns", start_mono);
  out.put_snapshot("start", take_snapshot());
  (void)out.flush();

  SignalWatcher signals;
  std::vector<std::unique_ptr<Family>> families;
  std::vector<ProbeStatus> all_probes;
  for (const auto &name : request.families) {
    auto family = make_family(name);
    if (!family) {
      all_probes.push_back({name, name, "", "", "skipped", "family not implemented in this version"});
      continue;
    }
    family->attach(options, kernel);
    for (auto &p : family->probes()) all_probes.push_back(p);
    if (family->attached()) families.push_back(std::move(family));
  }
  out.set_probes(all_probes);
  if (families.empty()) {
    out.set_meta("end_ns", monotonic_ns());
    out.set_meta("end_reason", "no probe could be attached");
    (void)out.flush();
    fmt::print(stderr, "triage record: no probe could be attached:\n");
    for (const auto &p : all_probes) fmt::print(stderr, "  {} ({}): {}\n", p.name, p.family, p.reason);
    return kExitNoProbes;
  }
  size_t attached_count = 0;
  for (const auto &p : all_probes) attached_count += p.status == "attached";

  bool measured = bpf_stats_enabled() || request.measure_overhead;
  int stats_fd = request.measure_overhead ? bpf_enable_stats(BPF_STATS_RUN_TIME) : -1;
  ProgramStats stats_before = program_stats(families);
  log_debug("attached {} probes in {:.0f} ms", attached_count, static_cast<double>(monotonic_ns() - start_mono) / 1e6);

  // The window starts once the probes are attached: what came before was not observed.
  const uint64_t window_start = monotonic_ns();
  out.set_meta("start_ns", window_start);
  out.set_meta("start_realtime_ns", realtime_ns());
  out.set_meta("last_flush_ns", window_start);
  out.set_meta("attached", true);  // tests and tools wait for this before creating load
  (void)out.flush();
  const uint64_t interval_ns = static_cast<uint64_t>(options.interval_s * 1e9);
  const uint64_t deadline = options.duration_s > 0 ? window_start + static_cast<uint64_t>(options.duration_s * 1e9) : 0;
  // Ring buffers are drained on this period, never woken per event.
  constexpr uint64_t kDrainPeriodNs = 100'000'000;
  uint64_t next_tick = window_start + interval_ns;
  LiveStatus status(!request.quiet);
  std::string end_reason = "duration";
  bool cut_short = false;

  auto flush_interval = [&](uint64_t now) {
    for (auto &f : families) {
      f->drain(out);
      f->sample(now, out);
    }
    out.set_meta("last_flush_ns", now);
    if (auto r = out.flush(); !r) log_warning("{}", r.error().message);
  };

  for (;;) {
    uint64_t now = monotonic_ns();
    if (deadline && now >= deadline) break;
    uint64_t wake = std::min(next_tick, now + kDrainPeriodNs);
    if (deadline) wake = std::min(wake, deadline);
    int sig = signals.wait(static_cast<int>((wake > now ? wake - now : 0) / 1'000'000));
    if (sig) {
      end_reason = sig == SIGINT ? "SIGINT" : sig == SIGTERM ? "SIGTERM" : "SIGHUP";
      cut_short = true;
      break;
    }
    now = monotonic_ns();
    if (now >= next_tick) {
      flush_interval(now);
      while (next_tick <= now) next_tick += interval_ns;
      uint64_t events = 0, lost = 0;
      for (const auto &f : families) {
        events += f->loss().produced;
        lost += f->loss().lost;
      }
      status.update(static_cast<double>(now - window_start) / 1e9, events, lost, attached_count);
    } else {
      for (auto &f : families) f->drain(out);
    }
  }
  status.finish();

  uint64_t end = monotonic_ns();
  flush_interval(end);
  ProgramStats stats_after = program_stats(families);
  for (auto &f : families) f->detach();
  if (stats_fd >= 0) ::close(stats_fd);
  out.set_meta("overhead", {{"measured", measured},
                            {"method", measured ? "bpf_stats" : "none"},
                            {"bpf_run_ns", stats_after.run_ns - stats_before.run_ns},
                            {"bpf_run_cnt", stats_after.run_cnt - stats_before.run_cnt},
                            {"programs", per_program_cost(stats_before, stats_after)}});
  out.put_snapshot("end", take_snapshot());
  out.set_meta("end_ns", end);
  out.set_meta("end_reason", end_reason);
  out.set_meta("cut_short", cut_short);
  auto flushed = out.flush();

  auto reader = RecordingReader::open(path);
  if (reader) {
    std::string text = render_text(build_report(**reader));
    std::fwrite(text.data(), 1, text.size(), stdout);
  }
  if (!flushed) {
    fmt::print(stderr, "triage record: the recording is incomplete: {}\n", flushed.error().message);
    return kExitRuntime;
  }
  fmt::print(stderr, "triage: recording saved to {}\n", path);
  return kExitOk;
}

}  // namespace triage

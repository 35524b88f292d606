#include "record/recorder.h"

#include <bpf/bpf.h>
#include <linux/magic.h>
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
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
#include "core/loss_rows.h"
#include "core/unique_fd.h"
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

uint64_t default_size_cap(const std::string &output_path) {
  auto slash = output_path.rfind('/');
  std::string dir = slash == std::string::npos ? "." : slash == 0 ? "/" : output_path.substr(0, slash);
  struct statvfs fs {};
  if (::statvfs(dir.c_str(), &fs) != 0) return kDefaultMaxSizeBytes;
  uint64_t free_bytes = static_cast<uint64_t>(fs.f_bavail) * fs.f_frsize;
  return std::min(kDefaultMaxSizeBytes, free_bytes / 2);
}

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

const char *signal_name(int sig) { return sig == SIGINT ? "SIGINT" : sig == SIGTERM ? "SIGTERM" : "SIGHUP"; }

class SignalWatcher {
 public:
  SignalWatcher() {
    sigemptyset(&mask_);
    for (int sig : {SIGINT, SIGTERM, SIGHUP}) sigaddset(&mask_, sig);
    sigprocmask(SIG_BLOCK, &mask_, nullptr);
    fd_.reset(signalfd(-1, &mask_, SFD_CLOEXEC | SFD_NONBLOCK));
  }
  // Going away closes the descriptor but leaves the signals blocked: the run is ending, and a
  // signal that comes while the end of the window is written or the report printed must not kill
  // the process before its report reaches a pipe and its exit code is set. run_record is the last
  // thing `triage record` does.

  // Waits up to timeout_ms for a signal or for one of `event_fds` (ring buffers past their
  // wakeup threshold) to become readable. Returns the signal that arrived, or 0.
  int wait(int timeout_ms, const std::vector<int> &event_fds = {}) {
    std::vector<pollfd> fds{{fd_.get(), POLLIN, 0}};
    for (int fd : event_fds) fds.push_back({fd, POLLIN, 0});
    if (::poll(fds.data(), fds.size(), timeout_ms) <= 0 || !(fds[0].revents & POLLIN)) return 0;
    signalfd_siginfo info{};
    if (::read(fd_.get(), &info, sizeof info) != sizeof info) return 0;
    return static_cast<int>(info.ssi_signo);
  }

 private:
  sigset_t mask_{};
  UniqueFd fd_;
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

bool bpf_stats_enabled() {
  std::ifstream in("/proc/sys/kernel/bpf_stats_enabled");
  int value = 0;
  in >> value;
  return value != 0;
}

// The BPF programs' own cost over the window, from the kernel's bpf_stats (run_time_ns and
// run_cnt per program). bpf_stats adds two clock reads to every program run, so unless the user
// asks for the whole window (--measure-overhead) or the sysctl is already on, it is sampled: on for
// one second of every ten, from the window's start, and the run time of the sampled time is scaled
// to the window. The estimate is as good as the load is steady; the report says which it was.
// Not more often: switching bpf_stats on or off flips a static key, which rewrites every BPF
// program call site in the kernel's text (text_poke, with rounds of IPIs to every CPU). Sampling
// 100 ms of every second flipped it twice a second; a kernel-matrix guest under QEMU's TCG, which
// handles such cross-CPU code patching badly, oopsed in bpf_trace_run4 during one of those flips.
class OverheadMeter {
 public:
  static constexpr uint64_t kSampleNs = 1'000'000'000, kPeriodNs = 10'000'000'000;

  OverheadMeter(const std::vector<std::unique_ptr<Family>> &families, bool whole_window)
      : families_(families), already_on_(bpf_stats_enabled()), whole_window_(whole_window || already_on_) {}
  ~OverheadMeter() { stop_sampling(0); }

  void start(uint64_t now) {
    window_start_ = now;
    if (whole_window_ && !already_on_) stats_fd_.reset(bpf_enable_stats(BPF_STATS_RUN_TIME));
    start_sampling(now);
  }

  // Called every loop iteration: switches sampling on and off on its schedule.
  void tick(uint64_t now) {
    if (whole_window_) return;
    if (sampling_ && now - sample_start_ >= kSampleNs) stop_sampling(now);
    else if (!sampling_ && now >= next_sample_) start_sampling(now);
  }

  json finish(uint64_t now) {
    stop_sampling(now);
    stats_fd_.reset();
    const double window_ns = static_cast<double>(now - window_start_);
    const bool measured = sampled_ns_ > 0 && available_;
    const double scale = measured ? window_ns / static_cast<double>(sampled_ns_) : 0;
    json programs = json::array();
    for (const auto &[name, totals] : by_program_) {
      programs.push_back({{"program", name},
                          {"run_ns", totals.first},
                          {"run_cnt", totals.second},
                          {"ns_per_run", totals.second ? static_cast<double>(totals.first) / static_cast<double>(totals.second) : 0.0}});
    }
    return {{"measured", measured},
            {"method", !measured ? "none" : whole_window_ ? "bpf_stats" : "bpf_stats_sampled"},
            {"sampled_s", static_cast<double>(sampled_ns_) / 1e9},
            // Scaled to the whole window when sampled (an estimate).
            {"bpf_run_ns", static_cast<uint64_t>(static_cast<double>(run_ns_) * scale)},
            {"bpf_run_cnt", static_cast<uint64_t>(static_cast<double>(run_cnt_) * scale)},
            {"programs", programs}};
  }

 private:
  void start_sampling(uint64_t now) {
    if (sampling_) return;
    if (!whole_window_) {
      stats_fd_.reset(bpf_enable_stats(BPF_STATS_RUN_TIME));
      if (!stats_fd_) {
        available_ = false;  // an old kernel (< 5.8) or no CAP_SYS_ADMIN: the cost stays unmeasured
        next_sample_ = UINT64_MAX;
        return;
      }
    }
    sampling_ = true;
    sample_start_ = now;
    before_ = program_stats(families_);
  }

  void stop_sampling(uint64_t now) {
    if (!sampling_) return;
    sampling_ = false;
    if (now) {
      ProgramStats after = program_stats(families_);
      run_ns_ += after.run_ns - before_.run_ns;
      run_cnt_ += after.run_cnt - before_.run_cnt;
      for (const auto &[name, totals] : after.by_program) {
        auto it = before_.by_program.find(name);
        auto &sum = by_program_[name];
        sum.first += totals.first - (it == before_.by_program.end() ? 0 : it->second.first);
        sum.second += totals.second - (it == before_.by_program.end() ? 0 : it->second.second);
      }
      sampled_ns_ += now - sample_start_;
    }
    next_sample_ = sample_start_ + kPeriodNs;
    if (!whole_window_) stats_fd_.reset();
  }

  const std::vector<std::unique_ptr<Family>> &families_;
  const bool already_on_, whole_window_;
  bool sampling_ = false, available_ = true;
  UniqueFd stats_fd_;  // open: the kernel keeps bpf_stats on
  uint64_t window_start_ = 0, sample_start_ = 0, next_sample_ = 0, sampled_ns_ = 0;
  uint64_t run_ns_ = 0, run_cnt_ = 0;
  ProgramStats before_;
  std::map<std::string, std::pair<uint64_t, uint64_t>> by_program_;
};

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

  // From here on a SIGINT/SIGTERM/SIGHUP ends the window instead of the process, so that even a
  // signal during startup or attach leaves a readable recording that says it was cut short.
  SignalWatcher signals;
  int early_signal = 0;
  std::string path = request.output.empty() ? default_output_path() : request.output;
  auto created = RecordingWriter::create(path);
  if (!created) {
    fmt::print(stderr, "triage record: {}\n", printable(created.error().message));
    return created.error().exit_code;
  }
  RecordingWriter &out = **created;
  out.set_size_cap(request.max_size_bytes ? request.max_size_bytes : default_size_cap(path));
  // Commits; on the first write error (disk full) says so once and goes on in memory, so the
  // window still ends with its report.
  auto commit = [&] {
    out.set_meta("size_cap", out.size_cap_json());
    auto r = out.flush();
    if (r || out.in_memory()) return;
    fmt::print(stderr,
               "triage record: cannot write the recording: {}; {} keeps the window up to its last flush and "
               "is marked incomplete; recording goes on in memory for the report\n",
               r.error().message, path);
    if (auto m = out.continue_in_memory(); !m) fmt::print(stderr, "triage record: {}\n", m.error().message);
    out.set_meta("write_error", out.disk_error());
  };

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
  commit();

  const uint64_t attach_start = monotonic_ns();
  std::vector<std::unique_ptr<Family>> families;
  std::vector<ProbeStatus> all_probes;
  for (const auto &name : request.families) {
    if (!early_signal) early_signal = signals.wait(0);
    if (early_signal) {
      // Attaching the rest would only delay the exit the user asked for.
      all_probes.push_back({name, name, "", "", "skipped",
                            fmt::format("not attached: {} arrived during attach", signal_name(early_signal))});
      continue;
    }
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
  // Stopped by a signal before any probe attached: still an (empty) window that says why it ended.
  if (families.empty() && !early_signal) {
    out.set_meta("end_ns", monotonic_ns());
    out.set_meta("end_reason", "no probe could be attached");
    commit();
    fmt::print(stderr, "triage record: no probe could be attached:\n");
    for (const auto &p : all_probes) fmt::print(stderr, "  {} ({}): {}\n", p.name, p.family, p.reason);
    return kExitNoProbes;
  }
  size_t attached_count = 0;
  for (const auto &p : all_probes) attached_count += p.status == "attached";
  std::vector<int> event_fds;
  for (const auto &f : families)
    if (int fd = f->event_fd(); fd >= 0) event_fds.push_back(fd);

  OverheadMeter overhead(families, request.measure_overhead);
  // Loading and attaching every family (BTF parsing, verification, attach), without the /proc
  // checklist taken before it.
  const uint64_t attach_ns = monotonic_ns() - attach_start;
  out.set_meta("attach_ns", attach_ns);
  log_debug("attached {} probes in {:.0f} ms", attached_count, static_cast<double>(attach_ns) / 1e6);

  // The window starts once the probes are attached: what came before was not observed.
  const uint64_t window_start = monotonic_ns();
  out.set_meta("start_ns", window_start);
  out.set_meta("start_realtime_ns", realtime_ns());
  out.set_meta("last_flush_ns", window_start);
  out.set_meta("attached", true);  // tests and tools wait for this before creating load
  commit();
  overhead.start(window_start);
  const uint64_t process_cpu_start = process_cpu_ns();
  uint64_t drain_cpu_ns = 0;
  auto drain_all = [&] {
    const uint64_t t0 = thread_cpu_ns();
    for (auto &f : families) f->drain(out);
    drain_cpu_ns += thread_cpu_ns() - t0;
  };
  const uint64_t interval_ns = static_cast<uint64_t>(options.interval_s * 1e9);
  const uint64_t deadline = options.duration_s > 0 ? window_start + static_cast<uint64_t>(options.duration_s * 1e9) : 0;
  // Ring buffers are drained on this period, or sooner when one fills past its wakeup threshold
  // (the BPF side wakes the consumer in batches, never per event).
  constexpr uint64_t kDrainPeriodNs = 100'000'000;
  uint64_t next_tick = window_start + interval_ns;
  LiveStatus status(!request.quiet);
  std::string end_reason = "duration";
  bool cut_short = false;

  // Each family's event account, per interval like every other counter (core/loss_rows.h).
  struct LossTables {
    DeltaTable<LossRow> loss;
    DeltaTable<DroppedRow> dropped;
  };
  std::vector<LossTables> loss_tables;
  for (const auto &f : families) loss_tables.push_back({{f->name(), kLossTable}, {f->name(), kDroppedTable}});
  auto write_loss = [&](uint64_t now) {
    for (size_t i = 0; i < families.size(); i++) {
      const LossCounters l = families[i]->loss();
      loss_tables[i].loss.write(now, {LossRow{{}, l.produced, l.delivered, l.lost}}, out);
      std::vector<DroppedRow> dropped;
      for (const auto &[counter, keys] : l.dropped_by_counter) dropped.push_back({counter, keys});
      if (dropped.empty() && l.dropped_keys) dropped.push_back({"map_full", l.dropped_keys});
      loss_tables[i].dropped.write(now, dropped, out);
    }
  };

  auto flush_interval = [&](uint64_t now) {
    drain_all();
    for (auto &f : families) f->sample(now, out);
    write_loss(now);
    out.set_meta("last_flush_ns", now);
    commit();
  };

  for (;;) {
    uint64_t now = monotonic_ns();
    if (deadline && now >= deadline) break;
    uint64_t wake = std::min(next_tick, now + kDrainPeriodNs);
    if (deadline) wake = std::min(wake, deadline);
    int sig = early_signal ? early_signal
                           : signals.wait(static_cast<int>((wake > now ? wake - now : 0) / 1'000'000), event_fds);
    if (sig) {
      end_reason = signal_name(sig);
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
      drain_all();
    }
    overhead.tick(now);
  }
  status.finish();

  // Producers stop first, so that the last drain and sample see the same events:
  // produced == delivered + lost holds exactly in the recording.
  for (auto &f : families) f->stop_producers();
  uint64_t end = monotonic_ns();
  flush_interval(end);
  json cost = overhead.finish(end);
  uint64_t delivered = 0;
  for (const auto &f : families) delivered += f->loss().delivered;
  // triage's own userspace cost: all its threads over the window, and the ring-buffer consumer.
  cost["user_cpu_ns"] = process_cpu_ns() - process_cpu_start;
  cost["drain_cpu_ns"] = drain_cpu_ns;
  cost["events_drained"] = delivered;
  for (auto &f : families) f->detach();
  out.set_meta("overhead", cost);
  out.put_snapshot("end", take_snapshot());
  out.set_meta("end_ns", end);
  out.set_meta("end_reason", end_reason);
  out.set_meta("cut_short", cut_short);
  commit();

  // The report comes from the file, or from memory when the file could not be completed.
  std::unique_ptr<RecordingReader> reader;
  if (out.in_memory()) {
    reader = RecordingReader::of_memory(out);
  } else if (auto opened = RecordingReader::open(path)) {
    reader = std::move(*opened);
  }
  if (reader) {
    std::string text = render_text(build_report(*reader));
    std::fwrite(text.data(), 1, text.size(), stdout);
    std::fflush(stdout);
  }
  if (out.in_memory() || out.failed()) {
    fmt::print(stderr,
               "triage record: {} is incomplete ({}): it holds the window up to its last successful flush and no "
               "end; the report above was built from memory\n",
               path, out.in_memory() ? out.disk_error() : out.first_error());
    return kExitRuntime;
  }
  fmt::print(stderr, "triage: recording saved to {}\n", path);
  return kExitOk;
}

}  // namespace triage

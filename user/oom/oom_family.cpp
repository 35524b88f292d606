// The oom family's loader: one program on oom:mark_victim (tp_btf, else its raw_tp twin) and a
// reader of /dev/kmsg for the constraint the tracepoint does not carry. A kill waits for its log
// line until the next sample at most, then is written with what is known.
#include "oom/oom_family.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <deque>
#include <optional>

#include <fmt/format.h>

#include "core/bpf_maps.h"
#include "core/bpf_raii.h"
#include "core/hook_sets.h"
#include "core/log.h"
#include "core/unique_fd.h"
#include "oom.skel.h"
#include "oom/oom_abi.h"
#include "oom/oom_kmsg.h"
#include "oom/oom_rows.h"

namespace triage::oom {
namespace {

using OomSkeleton = UniqueSkeleton<oom_bpf, oom_bpf__destroy>;

struct HookSet {
  const char *method;
  bpf_program *(*prog)(oom_bpf *);
};

const HookSet kHookSets[] = {
    {"tp_btf", [](oom_bpf *s) { return s->progs.mark_victim_btf; }},
    {"raw_tp", [](oom_bpf *s) { return s->progs.mark_victim_raw; }},
};

constexpr const char *kProbe = "oom_mark_victim";
constexpr const char *kHook = "tracepoint oom:mark_victim";
// /dev/kmsg returns one record per read and fails with EINVAL on a smaller buffer.
constexpr size_t kKmsgRecordMax = 16384;
// Log lines remembered for kills not seen yet: a burst of kills logs a few lines each.
constexpr size_t kLogLinesKept = 256;

class OomFamily final : public Family {
 public:
  std::string name() const override { return "oom"; }

  void attach(const RecordOptions &options, const KernelFeatures &kernel) override {
    options_ = options;
    if (contains(options.disabled_probes, kProbe)) {
      probes_.push_back({kProbe, "oom", kHook, "", "skipped", "disabled by --no-probe"});
      return;
    }
    // One program: a hook set counts as loaded only once it is attached too.
    auto load_and_attach = [&](const HookSet &set) -> Result<void> {
      if (auto loaded = load(set, kernel); !loaded) return loaded;
      UniqueLink link(bpf_program__attach(set.prog(skel_.get())));
      if (!link) {
        int err = errno;
        skel_.reset();
        return runtime_error(fmt::format("attach failed: {}", errno_text(err)));
      }
      link_ = std::move(link);
      attached_ = true;
      return {};
    };
    std::string reasons;
    hooks_ = load_first_hook_set<HookSet>(kHookSets, "oom", options.forced_hooks, load_and_attach, reasons);
    if (!hooks_) {
      probes_.push_back({kProbe, "oom", kHook, "", "failed", reasons});
      return;
    }
    probes_.push_back({kProbe, "oom", kHook, hooks_->method, "attached", reasons.empty() ? "" : "fallback; " + reasons});
    ring_.reset(ring_buffer__new(bpf_map__fd(skel_->maps.events), on_event, this, nullptr));
    if (!ring_) log_warning("oom: no ring buffer ({}): kills are counted but not described", errno_text(errno));
    open_kmsg();
  }

  bool attached() const override { return attached_; }
  std::vector<ProbeStatus> probes() const override { return probes_; }

  int event_fd() const override { return ring_ ? ring_buffer__epoll_fd(ring_.get()) : -1; }

  void drain(RecordingWriter &out) override {
    if (!attached()) return;
    read_kmsg();
    if (ring_) drain_ring(ring_.get());
    write_kills(out, false);
  }

  void sample(uint64_t now_ns, RecordingWriter &out) override {
    if (!attached()) return;
    read_kmsg();
    if (ring_) drain_ring(ring_.get());
    write_kills(out, true);
    oom_counters c{};
    uint32_t zero = 0;
    bpf_map_lookup_elem(bpf_map__fd(skel_->maps.counters), &zero, &c);
    counters_ = c;
    out.set_meta(kOomConfigMeta, {{"method", hooks_->method}, {"kmsg", kmsg_fd_ ? "read" : kmsg_error_}});
    OomCounters totals;
    totals.marks = c.marks;
    totals.events_received = received_;
    totals.events_lost = c.events_lost;
    counter_rows_.write(now_ns, {totals}, out);
  }

  LossCounters loss() const override { return {counters_.marks, counters_.events_lost, 0, received_}; }

  std::vector<int> program_fds() const override {
    std::vector<int> fds;
    if (skel_ && hooks_) {
      int fd = bpf_program__fd(hooks_->prog(skel_.get()));
      if (fd >= 0) fds.push_back(fd);
    }
    return fds;
  }

  void stop_producers() override { link_.reset(); }

  void detach() override {
    attached_ = false;
    ring_.reset();
    link_.reset();
    skel_.reset();
    kmsg_fd_.reset();
  }

 private:
  Result<void> load(const HookSet &set, const KernelFeatures &kernel) {
    OomSkeleton skel(oom_bpf__open());
    if (!skel) return runtime_error(fmt::format("cannot open the BPF object: {}", errno_text(errno)));
    // 6.8 changed mark_victim(int pid) into (struct task_struct *, uid_t): count, never trust a version.
    skel->rodata->mark_victim_passes_task = kernel.tracepoint_arg_count("mark_victim") >= 2;
    for (const auto &other : kHookSets) bpf_program__set_autoload(other.prog(skel.get()), &other == &set);
    if (int err = oom_bpf__load(skel.get()); err) return runtime_error(fmt::format("load failed: {}", errno_text(err)));
    skel_ = std::move(skel);
    page_size_ = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
    return {};
  }

  // Reading starts at the end of the log: kills before the window are not ours.
  void open_kmsg() {
    kmsg_fd_.reset(::open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC));
    if (!kmsg_fd_) {
      kmsg_error_ = fmt::format("/dev/kmsg: {}: constraints are inferred from the cgroup", errno_text(errno));
      return;
    }
    ::lseek(kmsg_fd_.get(), 0, SEEK_END);
    kmsg_buffer_.resize(kKmsgRecordMax);
  }

  void read_kmsg() {
    if (!kmsg_fd_) return;
    for (;;) {
      ssize_t n = ::read(kmsg_fd_.get(), kmsg_buffer_.data(), kmsg_buffer_.size());
      if (n < 0 && errno == EPIPE) continue;  // overwritten before we read it: go on with the next
      if (n <= 0) break;
      std::string_view text = kmsg_text(std::string_view(kmsg_buffer_.data(), static_cast<size_t>(n)));
      if (auto line = parse_oom_kill_line(text)) {
        kill_lines_.push_back(*line);
        if (kill_lines_.size() > kLogLinesKept) kill_lines_.pop_front();
      } else if (auto killed = parse_killed_process_line(text)) {
        killed_lines_.push_back(*killed);
        if (killed_lines_.size() > kLogLinesKept) killed_lines_.pop_front();
      }
    }
  }

  template <typename Line>
  static std::optional<Line> find_line(const std::deque<Line> &lines, uint32_t pid) {
    for (auto it = lines.rbegin(); it != lines.rend(); ++it)
      if (it->pid == pid) return *it;
    return std::nullopt;
  }

  // A kill is written once its "oom-kill:" line is in (printed before the tracepoint fires, so
  // usually at once), or at the next sample whatever we have.
  void write_kills(RecordingWriter &out, bool final_for_interval) {
    std::vector<oom_event> waiting;
    for (const auto &k : pending_) {
      auto log = find_line(kill_lines_, k.victim_pid);
      if (!log) log = find_line(kill_lines_, k.victim_tgid);
      if (!log && !final_for_interval) {
        waiting.push_back(k);
        continue;
      }
      auto killed = find_line(killed_lines_, k.victim_pid);
      out.add_event(k.time_ns, "oom", "kill", kill_row(k, log, killed, page_size_));
    }
    pending_ = std::move(waiting);
  }

  static int on_event(void *ctx, void *data, size_t size) {
    auto *self = static_cast<OomFamily *>(ctx);
    if (size >= sizeof(oom_event)) {
      self->pending_.push_back(*static_cast<const oom_event *>(data));
      self->received_++;
    }
    return 0;
  }

  RecordOptions options_;
  OomSkeleton skel_;
  const HookSet *hooks_ = nullptr;
  UniqueLink link_;
  bool attached_ = false;  // outlives stop_producers(), unlike link_
  UniqueRingBuffer ring_;
  std::vector<ProbeStatus> probes_;
  std::vector<oom_event> pending_;
  std::deque<OomKillLine> kill_lines_;
  std::deque<KilledProcessLine> killed_lines_;
  std::vector<char> kmsg_buffer_;
  UniqueFd kmsg_fd_;
  std::string kmsg_error_ = "not opened";
  uint64_t page_size_ = 4096;
  uint64_t received_ = 0;
  oom_counters counters_{};
  DeltaTable<OomCounters> counter_rows_{"oom", "counters"};
};

}  // namespace

std::unique_ptr<Family> make_oom_family() { return std::make_unique<OomFamily>(); }

}  // namespace triage::oom

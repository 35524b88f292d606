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
#include "core/bpf_object.h"
#include "core/log.h"
#include "core/unique_fd.h"
#include "oom.skel.h"
#include "oom/oom_abi.h"
#include "oom/oom_kmsg.h"
#include "oom/oom_rows.h"

namespace triage::oom {
namespace {

using OomObject = BpfObject<oom_bpf, oom_bpf__open, oom_bpf__load, oom_bpf__destroy>;

}  // namespace

const ProbeSpec kOomProbes[] = {
    {"oom_mark_victim", "tracepoint oom:mark_victim", "mark_victim", "mark_victim_btf", "mark_victim_raw",
     "OOM kills: which process was killed, its memory and its cgroup's"},
};

ProbeTable probe_table() { return kOomProbes; }

namespace {

// /dev/kmsg returns one record per read and fails with EINVAL on a smaller buffer.
constexpr size_t kKmsgRecordMax = 16384;
// Log lines remembered for kills not seen yet: a burst of kills logs a few lines each.
constexpr size_t kLogLinesKept = 256;

class OomFamily final : public Family {
 public:
  std::string name() const override { return "oom"; }

  void attach(const RecordOptions &options, const KernelFeatures &kernel) override {
    options_ = options;
    // One program: a set counts as loaded only once it is attached too.
    bool loaded = bpf_.load_first(options, [&](const char *method) -> Result<void> {
      Result<void> ready = bpf_.try_load(method, kernel, [&](oom_bpf &skel) { return prepare(skel, kernel); });
      return ready ? bpf_.attach_required({"oom_mark_victim"}) : ready;
    });
    attached_ = loaded && bpf_.is_attached("oom_mark_victim");
    if (!attached_) return;
    bpf_.open_ring("events", on_event, this, "kills are counted but not described");
    open_kmsg();
  }

  bool attached() const override { return attached_; }
  std::vector<ProbeStatus> probes() const override { return bpf_.statuses(); }

  int event_fd() const override { return bpf_.event_fd(); }

  void drain(RecordingWriter &out) override {
    if (!attached()) return;
    read_kmsg();
    bpf_.drain();
    write_kills(out, false);
  }

  void sample(uint64_t now_ns, RecordingWriter &out) override {
    if (!attached()) return;
    read_kmsg();
    bpf_.drain();
    write_kills(out, true);
    oom_counters c{};
    uint32_t zero = 0;
    bpf_map_lookup_elem(bpf_map__fd(bpf_.skel()->maps.counters), &zero, &c);
    counters_ = c;
    out.set_meta(kOomConfigMeta, {{"method", bpf_.method()}, {"kmsg", kmsg_fd_ ? "read" : kmsg_error_}});
    OomCounters totals;
    totals.marks = c.marks;
    totals.events_received = received_;
    totals.events_lost = c.events_lost;
    counter_rows_.write(now_ns, {totals}, out);
  }

  LossCounters loss() const override { return {counters_.marks, counters_.events_lost, 0, received_}; }

  std::vector<int> program_fds() const override { return bpf_.program_fds(); }

  void stop_producers() override { bpf_.stop(); }

  void detach() override {
    attached_ = false;
    bpf_.close();
    kmsg_fd_.reset();
  }

 private:
  Result<void> prepare(oom_bpf &skel, const KernelFeatures &kernel) {
    // 6.8 changed mark_victim(int pid) into (struct task_struct *, uid_t): count, never trust a version.
    skel.rodata->mark_victim_passes_task = kernel.tracepoint_arg_count("mark_victim") >= 2;
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
  OomObject bpf_{"oom", kOomProbes};
  bool attached_ = false;  // outlives stop_producers(), unlike the link
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

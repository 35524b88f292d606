// The block family's loader and sampler: chooses the hook set by trying the kernel, attaches each
// program on its own, and every interval reads the per-device and per-process totals into the
// aggregator (block_aggregate.h), which writes the timeline and the state.
#include "block/block_family.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <unordered_map>

#include <fmt/format.h>

#include "block.skel.h"
#include "block/block_abi.h"
#include "block/block_aggregate.h"
#include "core/bpf_maps.h"
#include "core/bpf_raii.h"
#include "core/clock.h"
#include "core/hook_sets.h"
#include "core/log.h"

namespace triage::block {
namespace {

using BlockSkeleton = UniqueSkeleton<block_bpf, block_bpf__destroy>;

struct HookSet {
  const char *method;
  bpf_program *(*insert_prog)(block_bpf *);
  bpf_program *(*issue_prog)(block_bpf *);
  bpf_program *(*complete_prog)(block_bpf *);
};

const HookSet kHookSets[] = {
    {"tp_btf", [](block_bpf *s) { return s->progs.insert_btf; }, [](block_bpf *s) { return s->progs.issue_btf; },
     [](block_bpf *s) { return s->progs.complete_btf; }},
    {"raw_tp", [](block_bpf *s) { return s->progs.insert_raw; }, [](block_bpf *s) { return s->progs.issue_raw; },
     [](block_bpf *s) { return s->progs.complete_raw; }},
};

const char *const kProbeNames[] = {"block_rq_insert", "block_rq_issue", "block_rq_complete"};

// The disk's name: /sys/dev/block/M:m links to .../block/<name>.
std::string sysfs_device_name(uint32_t dev) {
  std::error_code ec;
  auto target = std::filesystem::read_symlink(fmt::format("/sys/dev/block/{}", dev_string(dev)), ec);
  if (ec) return "";
  return target.filename().string();
}

class BlockFamily final : public Family {
 public:
  BlockFamily() : sampler_([this](uint32_t dev) { return name_of(dev); }) {}

  std::string name() const override { return "block"; }

  void attach(const RecordOptions &options, const KernelFeatures &kernel) override {
    options_ = options;
    std::string reasons;
    hooks_ = load_first_hook_set<HookSet>(kHookSets, "block", options.forced_hooks,
                                          [&](const HookSet &set) { return load(set, kernel); }, reasons);
    // Attached through a fallback: say what the preferred hook set was refused for.
    fallback_reason_ = hooks_ && !reasons.empty() ? fmt::format("fallback; {}", reasons) : "";
    if (!hooks_) {
      for (const char *probe : kProbeNames) probes_.push_back({probe, "block", hook_of(probe), "", "failed", reasons});
      return;
    }
    attach_programs();
    if (!attached()) return;
    ring_.reset(ring_buffer__new(bpf_map__fd(skel_->maps.events), on_event, this, nullptr));
    if (!ring_) log_warning("block: no ring buffer ({}): outliers will be missing", errno_text(errno));
    pending_.reserve(1024);
    sampler_.start(monotonic_ns());
  }

  bool attached() const override { return issue_attached_ && complete_attached_; }
  std::vector<ProbeStatus> probes() const override { return probes_; }

  int event_fd() const override { return ring_ ? ring_buffer__epoll_fd(ring_.get()) : -1; }

  void drain(RecordingWriter &out) override {
    // At the first drain, 100 ms in: a window killed before its first sample still has it.
    if (hooks_) sampler_.write_config({hooks_->method, options_.block_outlier_threshold_ns}, out);
    if (!ring_) return;
    drain_ring(ring_.get());
    for (const auto &e : pending_) out.add_event(e.end_ns, "block", op_name(e.op), outlier_row(e, name_of(e.dev)));
    pending_.clear();
  }

  void sample(uint64_t now_ns, RecordingWriter &out) override {
    if (!attached()) return;
    SampleInput input;
    input.method = hooks_->method;
    input.outlier_threshold_ns = options_.block_outlier_threshold_ns;

    std::vector<block_cpu_counters> per_cpu_counters;
    if (read_percpu(bpf_map__fd(skel_->maps.counters), 0, per_cpu_counters)) {
      for (const auto &c : per_cpu_counters) {
        input.counters.inserts += c.inserts;
        input.counters.issues += c.issues;
        input.counters.completions += c.completions;
        input.counters.partial_completions += c.partial_completions;
        input.counters.unpaired_completions += c.unpaired_completions;
        input.counters.unissued_flushes += c.unissued_flushes;
        input.counters.dropped_requests += c.dropped_requests;
        input.counters.stats_map_full += c.stats_map_full;
        input.counters.proc_map_full += c.proc_map_full;
        input.counters.events_produced += c.events_produced;
        input.counters.events_lost += c.events_lost;
      }
    }
    last_counters_ = input.counters;
    input.events_delivered = delivered_;
    input.recursion_misses = recursion_misses(program_fds());

    std::unordered_map<uint32_t, DeviceTotals> devices;
    std::vector<block_stats> per_cpu(possible_cpus());
    // Per-CPU hash values come back as one copy per CPU, so iterate the keys by hand.
    int stats_fd = bpf_map__fd(skel_->maps.stats);
    block_stats_key key{}, next{};
    const void *prev = nullptr;
    while (bpf_map_get_next_key(stats_fd, prev, &next) == 0) {
      if (bpf_map_lookup_elem(stats_fd, &next, per_cpu.data()) == 0 && next.op < BLOCK_OPS) {
        DeviceTotals &d = devices[next.dev];
        d.dev = next.dev;
        for (const auto &copy : per_cpu) d.ops[next.op].merge(copy);
      }
      key = next;
      prev = &key;
    }
    for (auto &[dev, totals] : devices) input.devices.push_back(std::move(totals));

    for_each_entry<block_proc_key, block_proc_stats>(
        bpf_map__fd(skel_->maps.proc_stats), [&](const block_proc_key &k, const block_proc_stats &s) {
          input.processes.push_back({k.tgid, k.dev, std::string(s.comm, strnlen(s.comm, sizeof s.comm)), s.total_ns,
                                     s.count, s.bytes});
        });
    // After proc_stats (see struct block_proc_cache): a write-back between the reads shows late, not twice.
    if (read_percpu(bpf_map__fd(skel_->maps.proc_cache), 0, proc_caches_))
      add_cached_processes(input.processes, proc_caches_);
    sampler_.sample(now_ns, input, out);
  }

  LossCounters loss() const override {
    return {last_counters_.events_produced,
            last_counters_.events_lost,
            last_counters_.dropped_requests + last_counters_.stats_map_full + last_counters_.proc_map_full,
            delivered_,
            {{"dropped_requests", last_counters_.dropped_requests},
             {"stats_map_full", last_counters_.stats_map_full},
             {"proc_map_full", last_counters_.proc_map_full}}};
  }

  std::vector<int> program_fds() const override {
    std::vector<int> fds;
    if (!skel_ || !hooks_) return fds;
    for (auto prog_of : {hooks_->insert_prog, hooks_->issue_prog, hooks_->complete_prog}) {
      int fd = bpf_program__fd(prog_of(skel_.get()));
      if (fd >= 0) fds.push_back(fd);
    }
    return fds;
  }

  void stop_producers() override { links_.clear(); }

  void detach() override {
    ring_.reset();
    links_.clear();
    skel_.reset();
  }

 private:
  static std::string hook_of(const std::string &probe) { return "tracepoint block:" + probe; }

  std::string name_of(uint32_t dev) {
    auto it = names_.find(dev);
    if (it == names_.end()) it = names_.emplace(dev, sysfs_device_name(dev)).first;
    return it->second;
  }

  Result<void> load(const HookSet &set, const KernelFeatures &kernel) {
    BlockSkeleton skel(block_bpf__open());
    if (!skel) return runtime_error(fmt::format("cannot open the BPF object: {}", errno_text(errno)));
    skel->rodata->outlier_threshold_ns = options_.block_outlier_threshold_ns;
    set_filter_rodata(skel->rodata, options_);
    // 5.11 dropped the request_queue argument of block_rq_insert/issue; count, never trust a version.
    int insert_args = kernel.tracepoint_arg_count("block_rq_insert");
    if (insert_args < 0) insert_args = kernel.tracepoint_arg_count("block_rq_issue");
    skel->rodata->insert_issue_have_queue_arg = insert_args >= 2;

    for (const auto &other : kHookSets) {
      bool mine = &other == &set;
      for (auto prog_of : {other.insert_prog, other.issue_prog, other.complete_prog})
        bpf_program__set_autoload(prog_of(skel.get()), mine);
    }
    if (int err = block_bpf__load(skel.get()); err)
      return runtime_error(fmt::format("load failed: {}", errno_text(err)));
    skel_ = std::move(skel);
    return {};
  }

  void attach_programs() {
    auto attach_one = [&](const char *probe, bpf_program *prog) {
      return attach_probe(prog, {probe, "block", hook_of(probe), hooks_->method, "", ""}, options_, fallback_reason_,
                          links_, probes_);
    };
    bool insert = attach_one("block_rq_insert", hooks_->insert_prog(skel_.get()));
    issue_attached_ = attach_one("block_rq_issue", hooks_->issue_prog(skel_.get()));
    complete_attached_ = attach_one("block_rq_complete", hooks_->complete_prog(skel_.get()));
    if (!insert && attached())
      log_warning("block: without block_rq_insert there is no queue time, and the submitter is the task at issue");
    if (!attached()) {
      // Latency needs both ends of a request: half a family would only mislead.
      links_.clear();
      for (auto &p : probes_)
        if (p.status == "attached") {
          p.status = "failed";
          p.reason = "detached: block_rq_issue and block_rq_complete are both needed";
        }
    }
  }

  static int on_event(void *ctx, void *data, size_t size) {
    auto *self = static_cast<BlockFamily *>(ctx);
    self->delivered_++;
    if (size >= sizeof(block_event)) self->pending_.push_back(*static_cast<const block_event *>(data));
    return 0;
  }

  RecordOptions options_;
  BlockSkeleton skel_;
  const HookSet *hooks_ = nullptr;
  std::string fallback_reason_;
  std::vector<UniqueLink> links_;
  UniqueRingBuffer ring_;
  std::vector<ProbeStatus> probes_;
  bool issue_attached_ = false, complete_attached_ = false;
  block_cpu_counters last_counters_{};
  std::vector<block_event> pending_;
  std::vector<block_proc_cache> proc_caches_;  // one per CPU, kept between samples (3 KiB each)
  uint64_t delivered_ = 0;
  std::unordered_map<uint32_t, std::string> names_;
  BlockSampler sampler_;
};

}  // namespace

std::unique_ptr<Family> make_block_family() { return std::make_unique<BlockFamily>(); }

}  // namespace triage::block

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
#include "core/bpf_object.h"
#include "core/log.h"

namespace triage::block {
namespace {

using BlockObject = BpfObject<block_bpf, block_bpf__open, block_bpf__load, block_bpf__destroy>;

}  // namespace

const ProbeSpec kBlockProbes[] = {
    {"block_rq_insert", "tracepoint block:block_rq_insert", "block_rq_insert", "insert_btf", "insert_raw",
     "time requests spent queued before dispatch (only device time, issue to complete, is seen)"},
    {"block_rq_issue", "tracepoint block:block_rq_issue", "block_rq_issue", "issue_btf", "issue_raw",
     "the whole block section: disk latency and the I/O attribution of D-state waits"},
    {"block_rq_complete", "tracepoint block:block_rq_complete", "block_rq_complete", "complete_btf", "complete_raw",
     "the whole block section: disk latency and the I/O attribution of D-state waits"},
};

ProbeTable probe_table() { return kBlockProbes; }

namespace {

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
    // Latency needs both ends of a request: a set where either will not attach is refused.
    bool loaded = bpf_.load_first(options, [&](const char *method) -> Result<void> {
      Result<void> ready = bpf_.try_load(method, kernel, [&](block_bpf &skel) { return prepare(skel, kernel); });
      return ready ? bpf_.attach_required({"block_rq_issue", "block_rq_complete"}) : ready;
    });
    if (!loaded) return;
    attach_programs();
    if (!attached()) return;
    bpf_.open_ring("events", on_event, this, "outliers will be missing");
    pending_.reserve(1024);
    sampler_.start(monotonic_ns());
  }

  bool attached() const override { return issue_attached_ && complete_attached_; }
  std::vector<ProbeStatus> probes() const override { return bpf_.statuses(); }

  int event_fd() const override { return bpf_.event_fd(); }

  void drain(RecordingWriter &out) override {
    // At the first drain, 100 ms in: a window killed before its first sample still has it.
    if (bpf_.loaded()) sampler_.write_config({bpf_.method(), options_.block_outlier_threshold_ns}, out);
    if (bpf_.event_fd() < 0) return;
    bpf_.drain();
    for (const auto &e : pending_) out.add_event(e.end_ns, "block", op_name(e.op), outlier_row(e, name_of(e.dev)));
    pending_.clear();
  }

  void sample(uint64_t now_ns, RecordingWriter &out) override {
    if (!attached()) return;
    SampleInput input;
    input.method = bpf_.method();
    input.outlier_threshold_ns = options_.block_outlier_threshold_ns;

    std::vector<block_cpu_counters> per_cpu_counters;
    if (read_percpu(bpf_map__fd(bpf_.skel()->maps.counters), 0, per_cpu_counters)) {
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
    int stats_fd = bpf_map__fd(bpf_.skel()->maps.stats);
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
        bpf_map__fd(bpf_.skel()->maps.proc_stats), [&](const block_proc_key &k, const block_proc_stats &s) {
          input.processes.push_back({k.tgid, k.dev, std::string(s.comm, strnlen(s.comm, sizeof s.comm)), s.total_ns,
                                     s.count, s.bytes});
        });
    // After proc_stats (see struct block_proc_cache): a write-back between the reads shows late, not twice.
    if (read_percpu(bpf_map__fd(bpf_.skel()->maps.proc_cache), 0, proc_caches_))
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

  std::vector<int> program_fds() const override { return bpf_.program_fds(); }

  void stop_producers() override { bpf_.stop(); }

  void detach() override { bpf_.close(); }

 private:
  std::string name_of(uint32_t dev) {
    auto it = names_.find(dev);
    if (it == names_.end()) it = names_.emplace(dev, sysfs_device_name(dev)).first;
    return it->second;
  }

  Result<void> prepare(block_bpf &skel, const KernelFeatures &kernel) {
    skel.rodata->outlier_threshold_ns = options_.block_outlier_threshold_ns;
    set_filter_rodata(skel.rodata, options_);
    // 5.11 dropped the request_queue argument of block_rq_insert/issue; count, never trust a version.
    int insert_args = kernel.tracepoint_arg_count("block_rq_insert");
    if (insert_args < 0) insert_args = kernel.tracepoint_arg_count("block_rq_issue");
    skel.rodata->insert_issue_have_queue_arg = insert_args >= 2;

    return {};
  }

  void attach_programs() {
    issue_attached_ = bpf_.is_attached("block_rq_issue");
    complete_attached_ = bpf_.is_attached("block_rq_complete");
    bool insert = bpf_.attach("block_rq_insert");
    if (!insert && attached())
      log_warning("block: without block_rq_insert there is no queue time, and the submitter is the task at issue");
    // One end skipped by --no-probe: half a family would only mislead.
    if (!attached()) bpf_.fail_attached("detached: block_rq_issue and block_rq_complete are both needed");
  }

  static int on_event(void *ctx, void *data, size_t size) {
    auto *self = static_cast<BlockFamily *>(ctx);
    self->delivered_++;
    if (size >= sizeof(block_event)) self->pending_.push_back(*static_cast<const block_event *>(data));
    return 0;
  }

  RecordOptions options_;
  BlockObject bpf_{"block", kBlockProbes};
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

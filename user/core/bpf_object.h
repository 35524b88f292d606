// Owns one family's BPF object from open to detach: the skeleton, the hook set it was loaded
// with, the links of its attached programs and its ring buffer. A family declares its probes in a
// table (core/probe_table.h) and asks for them by name; choosing the hook set, leaving out what
// this kernel lacks, --no-probe, --force-hook, probe statuses and program fds are done here once.
#pragma once

#include <bpf/libbpf.h>

#include <cerrno>
#include <functional>
#include <initializer_list>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "core/bpf_raii.h"
#include "core/family.h"
#include "core/kernel_features.h"
#include "core/log.h"
#include "core/probe_table.h"
#include "core/result.h"
#include "core/unique_fd.h"

namespace triage {

class BpfObjectCore {
 public:
  BpfObjectCore(const char *family, ProbeTable probes) : family_(family), probes_(probes) {}
  BpfObjectCore(const BpfObjectCore &) = delete;
  BpfObjectCore &operator=(const BpfObjectCore &) = delete;

  // Tries the hook sets in order (only the one --force-hook FAMILY=METHOD names, if any) with
  // load_set(method), which loads the object (BpfObject::try_load) and may attach the probes
  // without which the set is no use (attach_required). The first that succeeds is kept. When
  // none does, every BPF probe of the table is listed failed with each set's reason.
  bool load_first(const RecordOptions &options, const std::function<Result<void>(const char *method)> &load_set);

  // While a set loads (in the prepare step): leaves one probe out of it, with the reason.
  void leave_out(std::string_view probe, std::string reason);

  // Attaches one probe of the loaded set, unless --no-probe names it or it was left out, and
  // lists how that went. False also when the set does without the probe (then nothing is listed).
  bool attach(std::string_view probe);
  // Attaches these probes; when one fails (skipped by --no-probe is no failure), the set is
  // refused with that reason and load_first tries the next one.
  Result<void> attach_required(std::initializer_list<const char *> probes);
  // Detaches every program and lists what was attached as failed, with the reason: for a family
  // whose half would only mislead.
  void fail_attached(const std::string &reason);
  // A probe the family attaches by itself (one that needs no BPF), listed with the others.
  void add_status(ProbeStatus status) { statuses_.push_back(std::move(status)); }

  // A fresh run of an iterator probe attached for repeated use (an iter/ program whose row is not
  // run_once): reading the returned fd to its end runs the program over the kernel's objects.
  Result<UniqueFd> open_iterator(std::string_view probe) const;

  // The ring buffer of the object's map `map`; on failure logs what the family goes without.
  bool open_ring(const char *map, ring_buffer_sample_fn on_event, void *ctx, std::string_view without);
  int event_fd() const { return ring_ ? ring_buffer__epoll_fd(ring_.get()) : -1; }
  void drain() {
    if (ring_) drain_ring(ring_.get());
  }

  bool loaded() const { return object_ != nullptr; }
  const char *method() const { return method_; }
  bool is_attached(std::string_view probe) const;
  // Every probe's status, in the table's order.
  std::vector<ProbeStatus> statuses() const;
  // The loaded programs that run on events (not the run-once iterators), for bpf_stats.
  std::vector<int> program_fds() const;

  // Detaches the programs and keeps the maps and the ring, for the last drain and sample. Iterators
  // produce nothing by themselves (they run only when read), so the last sample may still run them.
  void stop() { links_.clear(); }
  // Detaches and frees everything; the family then reads nothing more.
  void close();

 protected:
  ~BpfObjectCore() = default;
  // Sets autoload on exactly the programs of `method`'s probes this kernel has.
  Result<void> choose_programs(bpf_object *object, const char *method, const KernelFeatures &kernel);
  void set_object(bpf_object *object) { object_ = object; }
  virtual void destroy_object() = 0;

 private:
  bpf_program *program_of(const ProbeSpec &probe) const;
  Result<void> run_iterator(bpf_program *program);
  void reset_attempt(const char *method);

  const char *family_;
  ProbeTable probes_;
  std::vector<std::string> disabled_;
  const char *method_ = nullptr;
  std::string fallback_reason_;  // why the preferred set was refused, on every attached probe
  std::map<std::string, std::string, std::less<>> left_out_;
  bpf_object *object_ = nullptr;
  std::vector<UniqueLink> links_;
  std::map<std::string, UniqueLink, std::less<>> iter_links_;  // iterators kept for open_iterator()
  UniqueRingBuffer ring_;
  std::vector<ProbeStatus> statuses_;
};

// BpfObject<sched_bpf, sched_bpf__open, sched_bpf__load, sched_bpf__destroy>.
template <typename Skel, Skel *(*Open)(), int (*Load)(Skel *), void (*Destroy)(Skel *)>
class BpfObject final : public BpfObjectCore {
 public:
  using BpfObjectCore::BpfObjectCore;
  ~BpfObject() { close(); }

  // Opens a fresh object for `method`, lets prepare(Skel &) -> Result<void> set its constants
  // and map sizes (and leave_out() probes), autoloads exactly that set's programs, and loads it.
  template <typename Prepare>
  Result<void> try_load(const char *method, const KernelFeatures &kernel, Prepare &&prepare) {
    UniqueSkeleton<Skel, Destroy> skel(Open());
    if (!skel) return runtime_error(fmt::format("cannot open the BPF object: {}", errno_text(errno)));
    if (Result<void> prepared = prepare(*skel); !prepared) return prepared;
    if (Result<void> chosen = choose_programs(skel->obj, method, kernel); !chosen) return chosen;
    if (int err = Load(skel.get()); err) return runtime_error(fmt::format("load failed: {}", errno_text(err)));
    skel_ = std::move(skel);
    set_object(skel_->obj);
    return {};
  }

  Skel *skel() const { return skel_.get(); }

 private:
  void destroy_object() override { skel_.reset(); }

  UniqueSkeleton<Skel, Destroy> skel_;
};

// Fills the rodata that bpf/common/filter.bpf.h declares: the -p / --cgroup filter.
template <typename Rodata>
void set_filter_rodata(Rodata *rodata, const RecordOptions &options) {
  rodata->filter_tgid = options.pid;
  rodata->filter_cgroup_id = options.cgroup_id;
  rodata->filter_cgroup_subsys = options.cgroup_subsys;
}

}  // namespace triage

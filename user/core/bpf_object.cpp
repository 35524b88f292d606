#include "core/bpf_object.h"

#include <bpf/bpf.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "core/bpf_maps.h"
#include "core/unique_fd.h"

namespace triage {
namespace {

// The method --force-hook FAMILY=METHOD asks for, or empty.
std::string forced_method(const std::vector<std::string> &forced_hooks, const std::string &family) {
  std::string prefix = family + "=";
  std::string method;
  for (const auto &forced : forced_hooks)
    if (forced.rfind(prefix, 0) == 0) method = forced.substr(prefix.size());
  return method;
}

bool needs_bpf(const ProbeSpec &probe) { return probe.tp_btf_program || probe.raw_tp_program; }

}  // namespace

void BpfObjectCore::reset_attempt(const char *method) {
  ring_.reset();
  links_.clear();
  iter_links_.clear();
  destroy_object();
  object_ = nullptr;
  statuses_.clear();
  left_out_.clear();
  method_ = method;
}

bool BpfObjectCore::load_first(const RecordOptions &options,
                               const std::function<Result<void>(const char *method)> &load_set) {
  disabled_ = options.disabled_probes;
  fallback_reason_.clear();
  std::string forced = forced_method(options.forced_hooks, family_);
  std::string reasons;
  for (const char *method : kHookMethods) {
    if (!forced.empty() && forced != method) continue;
    reset_attempt(method);
    Result<void> loaded = load_set(method);
    if (loaded && object_) {
      // Attached through a fallback: say on each probe what the preferred set was refused for.
      if (!reasons.empty()) {
        fallback_reason_ = fmt::format("fallback; {}", reasons);
        for (auto &status : statuses_)
          if (status.status == "attached") status.reason = fallback_reason_;
      }
      return true;
    }
    reasons += fmt::format("{}{}: {}", reasons.empty() ? "" : "; ", method,
                           loaded ? "the object was not loaded" : loaded.error().message);
  }
  reset_attempt(nullptr);
  if (reasons.empty()) reasons = fmt::format("no {} hook set is called '{}' (--force-hook)", family_, forced);
  for (const auto &probe : probes_)
    if (needs_bpf(probe)) statuses_.push_back({probe.name, family_, probe.hook, "", "failed", reasons});
  return false;
}

void BpfObjectCore::leave_out(std::string_view probe, std::string reason) {
  left_out_.insert_or_assign(std::string(probe), std::move(reason));
}

Result<void> BpfObjectCore::choose_programs(bpf_object *object, const char *method, const KernelFeatures &kernel) {
  bpf_program *program = nullptr;
  bpf_object__for_each_program(program, object) bpf_program__set_autoload(program, false);
  for (const auto &probe : probes_) {
    const char *name = program_for(probe, method);
    if (!name) continue;
    program = bpf_object__find_program_by_name(object, name);
    if (!program) return runtime_error(fmt::format("the BPF object has no program {} (probe {})", name, probe.name));
    // A program the kernel cannot have, or that --no-probe asks us to go without, is not loaded:
    // it would fail the whole object's load or cost verifier time for nothing.
    if (probe.tracepoint && kernel.tracepoint_arg_count(probe.tracepoint) < 0)
      leave_out(probe.name, "tracepoint not in this kernel's BTF");
    if (left_out_.count(probe.name) || contains(disabled_, probe.name)) continue;
    bpf_program__set_autoload(program, true);
  }
  return {};
}

bpf_program *BpfObjectCore::program_of(const ProbeSpec &probe) const {
  const char *name = method_ && object_ ? program_for(probe, method_) : nullptr;
  return name ? bpf_object__find_program_by_name(object_, name) : nullptr;
}

// Runs the iterator once, to its end: what it does happens while it is read.
Result<void> BpfObjectCore::run_iterator(bpf_program *program) {
  UniqueLink link(bpf_program__attach_iter(program, nullptr));
  if (!link) return runtime_error(fmt::format("iterator failed: {}", errno_text(errno)));
  UniqueFd iter_fd(bpf_iter_create(bpf_link__fd(link.get())));
  if (!iter_fd) return runtime_error(fmt::format("iterator failed: {}", errno_text(errno)));
  char buf[256];
  ssize_t n;
  while ((n = ::read(iter_fd.get(), buf, sizeof buf)) > 0) {
  }
  if (n < 0) return runtime_error(fmt::format("iterator failed: {}", errno_text(errno)));
  return {};
}

bool BpfObjectCore::attach(std::string_view name) {
  const ProbeSpec *probe = find_probe(probes_, name);
  if (!probe || !method_ || !program_for(*probe, method_)) return false;  // the set does without it
  bpf_program *program = program_of(*probe);
  auto left_out = left_out_.find(name);
  const bool iterator = probe->run_once || (program && bpf_program__expected_attach_type(program) == BPF_TRACE_ITER);
  ProbeStatus status{probe->name, family_, probe->hook, iterator ? "iter" : method_, "attached", fallback_reason_};
  if (contains(disabled_, probe->name)) {
    status.status = "skipped";
    status.reason = "disabled by --no-probe";
  } else if (left_out != left_out_.end()) {
    status.status = "failed";
    status.reason = left_out->second;
  } else if (!program) {
    status.status = "failed";
    status.reason = "not loaded";
  } else if (probe->run_once) {
    if (Result<void> ran = run_iterator(program); !ran) {
      status.status = "failed";
      status.reason = ran.error().message;
    }
  } else if (UniqueLink link(bpf_program__attach(program)); !link) {
    status.status = "failed";
    status.reason = fmt::format("attach failed: {}", errno_text(errno));
  } else if (bpf_program__expected_attach_type(program) == BPF_TRACE_ITER) {
    iter_links_.insert_or_assign(std::string(name), std::move(link));
  } else {
    links_.push_back(std::move(link));
  }
  statuses_.push_back(status);
  return status.status == "attached";
}

Result<void> BpfObjectCore::attach_required(std::initializer_list<const char *> probes) {
  for (const char *name : probes) {
    if (attach(name) || contains(disabled_, name)) continue;
    auto failed = std::find_if(statuses_.rbegin(), statuses_.rend(), [&](const ProbeStatus &s) { return s.name == name; });
    return runtime_error(failed != statuses_.rend() ? fmt::format("{}: {}", name, failed->reason)
                                                     : fmt::format("{}: not in this hook set", name));
  }
  return {};
}

void BpfObjectCore::fail_attached(const std::string &reason) {
  links_.clear();
  iter_links_.clear();
  for (auto &status : statuses_)
    if (status.status == "attached") {
      status.status = "failed";
      status.reason = reason;
    }
}

bool BpfObjectCore::open_ring(const char *map, ring_buffer_sample_fn on_event, void *ctx, std::string_view without) {
  int fd = object_ ? bpf_object__find_map_fd_by_name(object_, map) : -1;
  if (fd >= 0) ring_.reset(ring_buffer__new(fd, on_event, ctx, nullptr));
  if (!ring_) log_warning("{}: no ring buffer ({}): {}", family_, errno_text(fd < 0 ? -fd : errno), without);
  return static_cast<bool>(ring_);
}

Result<UniqueFd> BpfObjectCore::open_iterator(std::string_view probe) const {
  auto link = iter_links_.find(probe);
  if (link == iter_links_.end()) return runtime_error(fmt::format("{} is not attached", probe));
  UniqueFd fd(bpf_iter_create(bpf_link__fd(link->second.get())));
  if (!fd) return runtime_error(fmt::format("{}: {}", probe, errno_text(errno)));
  return fd;
}

bool BpfObjectCore::is_attached(std::string_view probe) const {
  return std::any_of(statuses_.begin(), statuses_.end(),
                     [&](const ProbeStatus &s) { return s.name == probe && s.status == "attached"; });
}

std::vector<ProbeStatus> BpfObjectCore::statuses() const {
  auto rank = [&](const ProbeStatus &s) {
    for (size_t i = 0; i < probes_.size(); i++)
      if (s.name == probes_[i].name) return i;
    return probes_.size();
  };
  std::vector<ProbeStatus> ordered = statuses_;
  std::stable_sort(ordered.begin(), ordered.end(), [&](const auto &a, const auto &b) { return rank(a) < rank(b); });
  return ordered;
}

std::vector<int> BpfObjectCore::program_fds() const {
  std::vector<int> fds;
  for (const auto &probe : probes_) {
    bpf_program *program = probe.run_once ? nullptr : program_of(probe);
    int fd = program ? bpf_program__fd(program) : -1;
    if (fd >= 0) fds.push_back(fd);
  }
  return fds;
}

void BpfObjectCore::close() {
  ring_.reset();
  links_.clear();
  iter_links_.clear();
  destroy_object();
  object_ = nullptr;
}

}  // namespace triage

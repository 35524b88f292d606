// What the running kernel offers, decided by asking it (its BTF, trial map creation), never by
// its version string: such changes are backported to stable kernels.
#pragma once

#include <string>

struct btf;

namespace triage {

class KernelFeatures {
 public:
  KernelFeatures();
  ~KernelFeatures();
  KernelFeatures(const KernelFeatures &) = delete;
  KernelFeatures &operator=(const KernelFeatures &) = delete;

  bool has_btf() const { return vmlinux_btf_ != nullptr; }
  const std::string &btf_error() const { return btf_error_; }
  // Arguments of a tracepoint as its BTF typedef btf_trace_<name> declares them (without the
  // leading context pointer); -1 when the kernel's BTF does not know the tracepoint.
  int tracepoint_arg_count(const std::string &tracepoint) const;
  bool has_struct_member(const std::string &struct_name, const std::string &member) const;
  bool has_type(const std::string &name) const;
  // The value of an enumerator (e.g. memory_cgrp_id in enum cgroup_subsys_id), -1 if unknown.
  int enum_value(const std::string &enum_name, const std::string &enumerator) const;
  // Whether a BPF map type can be created here (false without privilege too).
  static bool map_type_supported(int bpf_map_type);
  static bool is_root();

 private:
  struct btf *vmlinux_btf_ = nullptr;
  std::string btf_error_;
};

}  // namespace triage

#include "core/kernel_features.h"

#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace triage {

KernelFeatures::KernelFeatures() {
  vmlinux_btf_ = btf__load_vmlinux_btf();
  if (!vmlinux_btf_) {
    btf_error_ = std::string("kernel BTF unavailable (/sys/kernel/btf/vmlinux: ") + std::strerror(errno) +
                 "); a kernel built with CONFIG_DEBUG_INFO_BTF is needed";
  }
}

KernelFeatures::~KernelFeatures() { btf__free(vmlinux_btf_); }

int KernelFeatures::tracepoint_arg_count(const std::string &tracepoint) const {
  if (!vmlinux_btf_) return -1;
  int id = btf__find_by_name_kind(vmlinux_btf_, ("btf_trace_" + tracepoint).c_str(), BTF_KIND_TYPEDEF);
  if (id < 0) return -1;
  const struct btf_type *t = btf__type_by_id(vmlinux_btf_, id);
  t = btf__type_by_id(vmlinux_btf_, t->type);  // pointer
  if (!t || !btf_is_ptr(t)) return -1;
  t = btf__type_by_id(vmlinux_btf_, t->type);  // function prototype
  if (!t || !btf_is_func_proto(t)) return -1;
  return static_cast<int>(btf_vlen(t)) - 1;  // the first parameter is the tracepoint's void *
}

bool KernelFeatures::has_type(const std::string &name) const {
  if (!vmlinux_btf_) return false;
  return btf__find_by_name(vmlinux_btf_, name.c_str()) >= 0;
}

bool KernelFeatures::has_struct_member(const std::string &struct_name, const std::string &member) const {
  if (!vmlinux_btf_) return false;
  int id = btf__find_by_name_kind(vmlinux_btf_, struct_name.c_str(), BTF_KIND_STRUCT);
  if (id < 0) return false;
  const struct btf_type *t = btf__type_by_id(vmlinux_btf_, id);
  const struct btf_member *m = btf_members(t);
  for (unsigned i = 0; i < btf_vlen(t); i++, m++) {
    const char *name = btf__name_by_offset(vmlinux_btf_, m->name_off);
    if (name && member == name) return true;
  }
  return false;
}

int KernelFeatures::enum_value(const std::string &enum_name, const std::string &enumerator) const {
  if (!vmlinux_btf_) return -1;
  int id = btf__find_by_name_kind(vmlinux_btf_, enum_name.c_str(), BTF_KIND_ENUM);
  if (id < 0) return -1;
  const struct btf_type *t = btf__type_by_id(vmlinux_btf_, id);
  const struct btf_enum *e = btf_enum(t);
  for (unsigned i = 0; i < btf_vlen(t); i++, e++) {
    const char *name = btf__name_by_offset(vmlinux_btf_, e->name_off);
    if (name && enumerator == name) return e->val;
  }
  return -1;
}

bool KernelFeatures::map_type_supported(int bpf_map_type) {
  return libbpf_probe_bpf_map_type(static_cast<enum bpf_map_type>(bpf_map_type), nullptr) == 1;
}

bool KernelFeatures::is_root() { return ::geteuid() == 0; }

}  // namespace triage

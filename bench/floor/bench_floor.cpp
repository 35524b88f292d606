// The benchmark's floor tracers (see floor.bpf.c): attaches the sched floor (or with --tcp or
// --block that family's), waits for SIGINT, SIGTERM or -d SECONDS, then prints how many run-queue
// waits, connections closed or I/O completions it counted, so a run that measured nothing shows.
//
//     bench_floor [--tcp [--state-lookups] | --block [--empty]] [-d SECONDS]
//
// --state-lookups also times a lookup of the socket's entry at every new state and prints the
// ns per lookup by state: a probe of where per-socket state costs, not a benchmark row.
// --empty runs programs that only count on the block hooks: the cost of the hooks themselves.
#include <signal.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>
#include <vector>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "common/hist.h"
#include "core/bpf_maps.h"
#include "core/bpf_raii.h"
#include "floor.h"
#include "floor.skel.h"

namespace {

using FloorSkeleton = triage::UniqueSkeleton<floor_bpf, floor_bpf__destroy>;

int usage(const char *why) {
  std::fprintf(stderr, "bench_floor: %s\nusage: bench_floor [--tcp [--state-lookups] | --block [--empty]] [-d SECONDS]\n",
               why);
  return 2;
}

unsigned long long waits_counted(const floor_bpf *skel) {
  std::vector<triage_log2_hist> per_cpu;
  unsigned long long count = 0;
  if (triage::read_percpu(bpf_map__fd(skel->maps.runq_hist), 0, per_cpu))
    for (const auto &h : per_cpu) count += h.count;
  return count;
}

unsigned long long connections_closed(const floor_bpf *skel) {
  std::vector<tcp_floor_hists> per_cpu;
  unsigned long long count = 0;
  if (triage::read_percpu(bpf_map__fd(skel->maps.tcp_hist), 0, per_cpu))
    for (const auto &h : per_cpu) count += h.lifetime_us.count;
  return count;
}

unsigned long long completions_counted(const floor_bpf *skel, bool hooks_only) {
  unsigned long long count = 0;
  if (hooks_only) {
    std::vector<uint64_t> per_cpu;
    if (triage::read_percpu(bpf_map__fd(skel->maps.block_hook_runs), 0, per_cpu))
      for (uint64_t runs : per_cpu) count += runs;
    return count;
  }
  std::vector<triage_log2_hist> per_cpu;
  if (triage::read_percpu(bpf_map__fd(skel->maps.block_hist), 0, per_cpu))
    for (const auto &h : per_cpu) count += h.count;
  return count;
}

// The probe's table: ns per lookup of the socket's entry, by the state entered.
void print_lookup_costs(const floor_bpf *skel) {
  static const char *const names[FLOOR_TCP_STATES] = {
      nullptr,     "ESTABLISHED", "SYN_SENT", "SYN_RECV", "FIN_WAIT1", "FIN_WAIT2", "TIME_WAIT", "CLOSE",
      "CLOSE_WAIT", "LAST_ACK",   "LISTEN",   "CLOSING",  "NEW_SYN_RECV"};
  std::vector<tcp_floor_lookup_cost> per_cpu;
  std::printf("%-12s %10s %14s\n", "new state", "lookups", "ns per lookup");
  for (uint32_t state = 0; state < FLOOR_TCP_STATES; state++) {
    if (!triage::read_percpu(bpf_map__fd(skel->maps.lookup_cost), state, per_cpu)) continue;
    tcp_floor_lookup_cost total{};
    for (const auto &c : per_cpu) {
      total.ns += c.ns;
      total.count += c.count;
    }
    if (total.count)
      std::printf("%-12s %10llu %14.0f\n", names[state] ? names[state] : "?",
                  static_cast<unsigned long long>(total.count), static_cast<double>(total.ns) / total.count);
  }
}

}  // namespace

int main(int argc, char **argv) {
  double seconds = 0;  // 0: until a signal
  bool tcp = false, state_lookups = false, block = false, hooks_only = false;
  for (int i = 1; i < argc; i++) {
    std::string arg = argv[i];
    if (arg == "--tcp") {
      tcp = true;
    } else if (arg == "--state-lookups") {
      state_lookups = true;
    } else if (arg == "--block") {
      block = true;
    } else if (arg == "--empty") {
      hooks_only = true;
    } else if (arg == "-d" && i + 1 < argc) {
      char *end = nullptr;
      seconds = std::strtod(argv[++i], &end);
      if (!end || *end || seconds <= 0) return usage("-d needs a positive number of seconds");
    } else {
      return usage(("unknown argument: " + arg).c_str());
    }
  }

  // Block the signals before attaching, so that one arriving early ends the wait, not the process.
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGTERM);
  sigprocmask(SIG_BLOCK, &stop, nullptr);

  FloorSkeleton skel(floor_bpf__open());
  if (!skel) {
    std::fprintf(stderr, "bench_floor: cannot open the BPF object: %s\n", std::strerror(errno));
    return 1;
  }
  if (state_lookups && !tcp) return usage("--state-lookups needs --tcp");
  if (hooks_only && !block) return usage("--empty needs --block");
  if (tcp && block) return usage("--tcp and --block are two different floors: pick one");
  skel->rodata->time_state_lookups = state_lookups;
  skel->rodata->block_hooks_only = hooks_only;
  const std::vector<bpf_program *> sched = {skel->progs.floor_wakeup, skel->progs.floor_wakeup_new,
                                            skel->progs.floor_switch};
  const std::vector<bpf_program *> tcp_progs = {skel->progs.floor_tcp_state};
  const std::vector<bpf_program *> block_progs = {skel->progs.floor_block_issue, skel->progs.floor_block_complete};
  const std::vector<bpf_program *> &chosen = tcp ? tcp_progs : block ? block_progs : sched;
  for (const auto *family : {&sched, &tcp_progs, &block_progs})
    for (bpf_program *prog : *family) bpf_program__set_autoload(prog, family == &chosen);
  if (int err = floor_bpf__load(skel.get())) {
    std::fprintf(stderr, "bench_floor: cannot load the BPF object: %s\n", std::strerror(-err));
    return 1;
  }
  std::vector<triage::UniqueLink> links;
  for (bpf_program *prog : chosen) {
    triage::UniqueLink link(bpf_program__attach(prog));
    if (!link) {
      std::fprintf(stderr, "bench_floor: cannot attach %s: %s\n", bpf_program__name(prog), std::strerror(errno));
      return 1;
    }
    links.push_back(std::move(link));
  }

  timespec limit{static_cast<time_t>(seconds), static_cast<long>((seconds - static_cast<time_t>(seconds)) * 1e9)};
  int signo;
  do {
    signo = sigtimedwait(&stop, nullptr, seconds > 0 ? &limit : nullptr);
  } while (signo < 0 && errno == EINTR);

  if (tcp)
    std::printf("%llu connections closed\n", connections_closed(skel.get()));
  else if (block)
    std::printf("%llu I/O completions\n", completions_counted(skel.get(), hooks_only));
  else
    std::printf("%llu run-queue waits\n", waits_counted(skel.get()));
  if (state_lookups) print_lookup_costs(skel.get());
  return 0;
}

// triage: record one incident window with eBPF and turn it into a postmortem.
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "core/result.h"
#include "families.h"
#include "record/recorder.h"
#include "record/recording.h"
#include "report/html.h"
#include "report/report.h"
#include "report/text_util.h"
#include "snapshot/snapshot.h"

namespace {

using namespace triage;

std::vector<std::string> split_families(const std::string &list) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= list.size()) {
    size_t comma = list.find(',', start);
    std::string name = list.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    if (!name.empty()) out.push_back(name);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

// Writes `text` to `path`, or to stdout for "-"/"". Reports name processes and addresses, so the
// file is private (0600 whatever the umask), and a planted symlink or another name of an existing
// file (a hard link) must never be written through: the text goes to a new file in the same
// directory, renamed over `path` at the end, and a symlink at `path` is refused outright.
int write_output(const std::string &path, const std::string &text) {
  if (path.empty() || path == "-") {
    std::fwrite(text.data(), 1, text.size(), stdout);
    return kExitOk;
  }
  auto fail = [&](int code, const std::string &why) {
    fmt::print(stderr, "triage: {}: {}\n", printable(path), why);
    return code;
  };
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0) {
    if (S_ISLNK(st.st_mode)) return fail(kExitUsage, "is a symbolic link; refusing to write through it");
    if (!S_ISREG(st.st_mode)) return fail(kExitUsage, "exists and is not a regular file");
  }
  std::string temp = path + ".XXXXXX";
  int fd = ::mkostemp(temp.data(), O_CLOEXEC);  // O_EXCL, mode 0600
  if (fd < 0) return fail(kExitUsage, fmt::format("cannot create: {}", std::strerror(errno)));
  auto abandon = [&](const char *what) {
    int err = errno;
    ::close(fd);
    ::unlink(temp.c_str());
    return fail(kExitRuntime, fmt::format("{}: {}", what, std::strerror(err)));
  };
  size_t done = 0;
  while (done < text.size()) {
    ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return abandon("cannot write");
    }
    done += static_cast<size_t>(n);
  }
  if (::fchmod(fd, 0600) != 0) return abandon("cannot set mode 0600");
  if (::close(fd) != 0) {
    int err = errno;
    ::unlink(temp.c_str());
    return fail(kExitRuntime, fmt::format("cannot write: {}", std::strerror(err)));
  }
  if (::rename(temp.c_str(), path.c_str()) != 0) {
    int err = errno;
    ::unlink(temp.c_str());
    return fail(kExitUsage, fmt::format("cannot replace: {}", std::strerror(err)));
  }
  return kExitOk;
}

json probes_json(const std::vector<ProbeStatus> &probes) {
  json out = json::array();
  for (const auto &p : probes)
    out.push_back({{"name", p.name}, {"family", p.family}, {"hook", p.hook}, {"method", p.method},
                   {"status", p.status}, {"reason", p.reason}});
  return out;
}

}  // namespace

int main(int argc, char **argv) {
  CLI::App app{"triage: record one incident window with eBPF and turn it into a postmortem"};
  app.require_subcommand(1);
  app.set_version_flag("--version", TRIAGE_VERSION);

  RecordRequest record;
  const std::string all_family_names = family_name_list();
  std::string probes_list = all_family_names;
  double threshold_ms = 10;
  auto *rec = app.add_subcommand("record", "attach the probes, record a window, save it and print the report");
  rec->add_option("-d,--duration", record.options.duration_s, "seconds to record (0: until Ctrl-C)")
      ->check(CLI::Range(0.0, 7 * 86400.0));
  rec->add_option("-o,--output", record.output, "recording file (default triage-<host>-<UTC time>.db)");
  rec->add_option("--probes", probes_list, "comma list of families: " + all_family_names);
  rec->add_option("-p,--pid", record.options.pid, "only this process (thread group id)")
      ->check(CLI::Range(1u, 4194304u));
  rec->add_option("--cgroup", record.options.cgroup_path, "only tasks in this cgroup directory (or below)");
  rec->add_option("-i,--interval", record.options.interval_s, "time-series interval in seconds")
      ->check(CLI::Range(0.1, 3600.0));
  rec->add_option("--threshold-ms", threshold_ms, "scheduler waits at least this long go to the timeline")
      ->check(CLI::Range(0.0, 3600e3));
  rec->add_option("--no-probe", record.options.disabled_probes, "do not attach this probe (as if the kernel lacked it)");
  rec->add_option("--force-hook", record.options.forced_hooks, "FAMILY=METHOD, e.g. sched=raw_tp");
  rec->add_option("--max-size", record.max_size_bytes,
                  "cap on the recording's size, e.g. 200MiB (default: 512MiB or half the free space, "
                  "whichever is less); past it timeline events are counted, not written")
      ->transform(CLI::AsSizeValue(false))
      ->check(CLI::Range(uint64_t{64} << 10, uint64_t{1} << 50));
  rec->add_flag("-q,--quiet", record.quiet, "no live status line");
  rec->add_flag("--measure-overhead", record.measure_overhead, "enable bpf_stats during the window to measure the tracer's cost");
  rec->add_flag("--debug", record.options.debug, "libbpf and loader diagnostics on stderr");

  std::string report_file, report_format = "text", report_output;
  auto *rep = app.add_subcommand("report", "render a saved recording (needs no root)");
  rep->add_option("file", report_file, "recording file")->required();
  rep->add_option("--format", report_format, "text, json or html")->check(CLI::IsMember({"text", "json", "html"}));
  rep->add_option("-o,--output", report_output, "write to this file instead of stdout");
  SliceArgs report_slice;
  rep->add_option("--from", report_slice.from,
                  "start of the slice to report: seconds from the window's start (90, 1m30s), a UTC time (03:12:10) "
                  "or 2026-12-06T03:12:10Z");
  rep->add_option("--to", report_slice.to, "end of the slice to report (same forms as --from)");
  rep->add_option("--last", report_slice.last, "report only the window's final DURATION (60s, 5m)");

  std::string snapshot_format = "text";
  auto *snap = app.add_subcommand("snapshot", "the /proc checklist alone: no BPF, works unprivileged");
  snap->add_option("--format", snapshot_format, "text or json")->check(CLI::IsMember({"text", "json"}));

  std::string probes_format = "text";
  auto *prb = app.add_subcommand("probes", "what this kernel and privilege level allow, probe by probe");
  prb->add_option("--format", probes_format, "text or json")->check(CLI::IsMember({"text", "json"}));
  prb->add_option("--probes", probes_list, "comma list of families");
  prb->add_option("--force-hook", record.options.forced_hooks, "FAMILY=METHOD, e.g. sched=raw_tp");
  prb->add_flag("--debug", record.options.debug, "libbpf and loader diagnostics on stderr");

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp &) {
    fmt::print("{}", app.help());
    return kExitOk;
  } catch (const CLI::CallForAllHelp &) {
    fmt::print("{}", app.help("", CLI::AppFormatMode::All));
    return kExitOk;
  } catch (const CLI::CallForVersion &e) {
    fmt::print("triage {}\n", e.what());
    return kExitOk;
  } catch (const CLI::Success &) {
    return kExitOk;
  } catch (const CLI::ParseError &e) {
    // CLI11 reads an unknown command as a missing one ("A subcommand is required"): name it.
    const std::string first = argc > 1 ? argv[1] : "";
    if (!first.empty() && first[0] != '-' && first != "record" && first != "report" && first != "snapshot" &&
        first != "probes") {
      fmt::print(stderr, "triage: unknown command '{}' (known: record, report, snapshot, probes; see triage --help)\n",
                 printable(first));
      return kExitUsage;
    }
    fmt::print(stderr, "triage: {} (see triage --help)\n", e.what());
    return kExitUsage;
  }

  std::vector<std::string> families = split_families(probes_list);
  for (const auto &f : families) {
    if (!find_family(f)) {
      fmt::print(stderr, "triage: --probes: unknown family '{}' (known: {})\n", f, all_family_names);
      return kExitUsage;
    }
  }
  if (families.empty()) {
    fmt::print(stderr, "triage: --probes: no family given (known: {})\n", all_family_names);
    return kExitUsage;
  }

  if (*rec) {
    // CLI11's Range lets NaN through (every comparison with it is false).
    for (auto [flag, value] : {std::pair{"--duration", record.options.duration_s},
                               std::pair{"--interval", record.options.interval_s}, std::pair{"--threshold-ms", threshold_ms}}) {
      if (!std::isfinite(value)) {
        fmt::print(stderr, "triage: {}: not a number (see triage --help)\n", flag);
        return kExitUsage;
      }
    }
    if (record.options.duration_s > 0 && record.options.interval_s > record.options.duration_s) {
      fmt::print(stderr, "triage: --interval {} is longer than --duration {}: the window would hold no interval\n",
                 record.options.interval_s, record.options.duration_s);
      return kExitUsage;
    }
    record.families = families;
    record.options.outlier_threshold_ns = static_cast<uint64_t>(threshold_ms * 1e6);
    return run_record(record);
  }
  if (*rep) {
    auto text = report_from_file(report_file, report_format, report_slice);
    if (!text) {
      // The message names the file, and a file name can hold a newline or an escape sequence.
      fmt::print(stderr, "triage report: {}\n", printable(text.error().message));
      return text.error().exit_code;
    }
    return write_output(report_output, *text);
  }
  if (*snap) {
    json s = take_snapshot();
    return write_output("", snapshot_format == "json" ? s.dump(2, ' ', false, json::error_handler_t::replace) + "\n"
                                                      : render_snapshot_text(s));
  }
  if (*prb) {
    auto probes = probe_kernel(families, record.options);
    if (probes_format == "json") return write_output("", probes_json(probes).dump(2) + "\n");
    std::string text = fmt::format("{:<18} {:<6} {:<8} {:<9} {:<40} {}\n", "PROBE", "FAMILY", "METHOD", "STATUS", "HOOK", "REASON");
    for (const auto &p : probes)
      text += fmt::format("{:<18} {:<6} {:<8} {:<9} {:<40} {}\n", p.name, p.family, p.method, p.status, p.hook, p.reason);
    bool any = std::any_of(probes.begin(), probes.end(), [](const ProbeStatus &p) { return p.status == "attached"; });
    int rc = write_output("", text);
    return rc != kExitOk ? rc : any ? kExitOk : kExitNoProbes;
  }
  return kExitUsage;
}

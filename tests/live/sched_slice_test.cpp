// Slices of one window: 15 s with CPU contention (three spinning threads per CPU) only in the
// middle third, and direct I/O on a loop device all along. The middle slice shows the runnable load
// and cpu-saturation with its span inside the third; the outer slices show neither. For sched and
// block, the counters of the three slices add up exactly to the whole window's (switches, wakeups,
// histogram counts, per-process totals, per-device counts). And the middle slice's run-queue wait
// of the spinners equals what the kernel counted for their threads (schedstat run_delay).
#include <catch2/catch.hpp>

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sqlite3.h>
#include <time.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "live_support.h"
#include "test_binary.h"

using nlohmann::json;

namespace {

constexpr double kWindowS = 15;

uint64_t monotonic_ns() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000ULL + static_cast<uint64_t>(ts.tv_nsec);
}

void sleep_until(uint64_t t_ns) {
  uint64_t now = monotonic_ns();
  if (t_ns > now) live::sleep_s(static_cast<double>(t_ns - now) / 1e9);
}

// meta.start_ns of a recording being written (the recorder commits it before `attached`).
uint64_t window_start_ns(const std::string &db_path) {
  sqlite3 *db = nullptr;
  uint64_t start = 0;
  if (sqlite3_open_v2(db_path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK) {
    sqlite3_busy_timeout(db, 2000);
    sqlite3_stmt *stmt = nullptr;
    if (sqlite3_prepare_v2(db, "SELECT value FROM meta WHERE key='start_ns'", -1, &stmt, nullptr) == SQLITE_OK) {
      if (sqlite3_step(stmt) == SQLITE_ROW)
        start = std::strtoull(reinterpret_cast<const char *>(sqlite3_column_text(stmt, 0)), nullptr, 10);
      sqlite3_finalize(stmt);
    }
  }
  sqlite3_close(db);
  return start;
}

// Sum of run_delay (ns waited on a run queue, the kernel's count) over the threads of `pid`.
unsigned long long run_delay_ns(pid_t pid) {
  unsigned long long total = 0;
  std::string tasks = "/proc/" + std::to_string(pid) + "/task";
  DIR *dir = ::opendir(tasks.c_str());
  if (!dir) return 0;
  while (dirent *t = ::readdir(dir)) {
    if (t->d_name[0] < '0' || t->d_name[0] > '9') continue;
    std::ifstream in(tasks + "/" + t->d_name + "/schedstat");
    unsigned long long cpu_ns = 0, delay = 0;
    if (in >> cpu_ns >> delay) total += delay;
  }
  ::closedir(dir);
  return total;
}

// `triage report --from/--to` of [from_s, to_s] (seconds from the window's start; to_s < 0: to
// its end), parsed.
json slice_report(const std::string &db, double from_s, double to_s) {
  std::vector<std::string> argv = {triage_test_binary(), "report", db, "--format", "json", "--from",
                                   std::to_string(from_s)};
  if (to_s >= 0) argv.insert(argv.end(), {"--to", std::to_string(to_s)});
  auto cli = live::run(argv);
  INFO("triage report: " << cli.err);
  REQUIRE(cli.exit_code == 0);
  json report = json::parse(cli.out);
  CHECK(report["window"]["slice"]["from_s"].get<double>() == Approx(from_s));
  return report;
}

const json *finding(const json &report, const std::string &id) {
  for (const auto &f : report["findings"])
    if (f["id"] == id) return &f;
  return nullptr;
}

double max_runnable(const json &sched) {
  double worst = 0;
  for (const auto &row : sched["load"]) worst = std::max(worst, row.value("runnable", 0.0));
  return worst;
}

// Tasks running or runnable now, besides the reader (/proc/stat procs_running).
double others_running() {
  std::ifstream in("/proc/stat");
  std::string key;
  double value = 0;
  while (in >> key) {
    if (key == "procs_running" && in >> value) return value - 1;
    in.ignore(1 << 20, '\n');
  }
  return 0;
}

// The outer slices must show no contention, so the test starts on a machine that has none of its
// own: it waits up to `timeout_s` for a second in which other tasks used at most half the CPUs
// on average, and says how busy the machine was if it never came.
bool wait_for_quiet(long ncpu, double timeout_s, double &last_busy) {
  for (double waited = 0; waited < timeout_s; waited += 1) {
    double sum = 0;
    for (int i = 0; i < 10; i++) {
      sum += others_running();
      live::sleep_s(0.1);
    }
    last_busy = sum / 10;
    if (last_busy <= 0.5 * static_cast<double>(ncpu)) return true;
  }
  return false;
}

// A list's rows by pid, and whether the list is whole (nothing cut: a pid not in it had none).
struct ByPid {
  std::map<uint64_t, json> rows;
  bool whole = true;
};
ByPid by_pid(const json &section, const std::string &list) {
  ByPid out;
  for (const auto &row : section[list]) out.rows[row["pid"].get<uint64_t>()] = row;
  out.whole = section.value(list + "_total", 0ULL) == section[list].size();
  return out;
}

// For every process of the whole window's list: its `key` summed over the slices equals the
// whole's, wherever the slices' lists allow the sum (a process cut from a slice's list cannot be
// summed; one absent from a whole list had none). Returns how many processes were checked.
size_t check_list_adds_up(const json &whole, const std::vector<json> &slices, const std::string &family,
                          const std::string &list, const std::string &key) {
  size_t checked = 0;
  auto all = by_pid(whole[family], list);
  std::vector<ByPid> parts;
  for (const auto &s : slices) parts.push_back(by_pid(s[family], list));
  for (const auto &[pid, row] : all.rows) {
    uint64_t sum = 0;
    bool summable = true;
    for (const auto &part : parts) {
      auto it = part.rows.find(pid);
      if (it != part.rows.end()) sum += it->second.value(key, 0ULL);
      else summable = summable && part.whole;
    }
    if (!summable) continue;
    INFO(family << "." << list << " pid " << pid << " " << key);
    CHECK(sum == row.value(key, 0ULL));
    checked++;
  }
  return checked;
}

}  // namespace

// One recording for every check (no SECTIONs: Catch would record the window again for each).
TEST_CASE("slices: contention only in the middle third shows only there, and the slices add up") {
  const long ncpu = ::sysconf(_SC_NPROCESSORS_ONLN);
  live::require_tool("losetup");
  double busy = 0;
  if (!wait_for_quiet(ncpu, 180, busy))
    live::skip("the machine stayed busy (" + std::to_string(busy) +
               " other tasks running on average): the outer slices could not be told quiet");
  live::TempDir dir;
  const std::string backing = dir.file("disk.img");
  {
    std::ofstream(backing).close();
    if (::truncate(backing.c_str(), 32 << 20) != 0) live::skip("cannot size the loop device's backing file");
  }
  auto loop = live::run({"losetup", "--find", "--show", backing});
  if (loop.exit_code != 0) live::skip("losetup failed: " + loop.err);
  const std::string device = loop.out.substr(0, loop.out.find('\n'));
  struct Detach {
    std::string device;
    ~Detach() { live::run({"losetup", "-d", device}); }
  } detach{device};
  live::sh("udevadm settle -t 10 >/dev/null 2>&1");

  live::Recording rec(dir.file("slices.db"), {"-d", std::to_string(static_cast<int>(kWindowS)), "-i", "1", "--probes",
                                              "sched,block"});
  REQUIRE(rec.wait_attached());
  const uint64_t start = window_start_ns(dir.file("slices.db"));
  REQUIRE(start > 0);

  // Direct 4 KiB writes and reads on the loop device, the whole window: every slice has I/O.
  live::Child io("triage-slice-io", [&] {
    int fd = ::open(device.c_str(), O_RDWR | O_DIRECT);
    if (fd < 0) ::_exit(3);
    void *buf = nullptr;
    if (::posix_memalign(&buf, 4096, 4096) != 0) ::_exit(4);
    std::memset(buf, 0x5a, 4096);
    for (off_t i = 0;; i = (i + 1) % 4096) {
      if (::pwrite(fd, buf, 4096, i * 4096) != 4096) ::_exit(5);
      if (::pread(fd, buf, 4096, ((i * 7) % 4096) * 4096) != 4096) ::_exit(6);
      ::usleep(3000);
    }
  });

  // Three spinning threads per CPU from 5.2 s to 8.8 s of the window. Interval rows are stamped
  // just after each whole second, and a row belongs to the slice its stamp falls in: the middle
  // slice (5, 10] holds the rows that end at ~6..~9 and cover ~5..~9, so the spinners stop before 9.
  sleep_until(start + 5'200'000'000ULL);
  const int threads = static_cast<int>(3 * ncpu);
  live::Child spin("triage-slicespin", [threads] {
    std::vector<std::thread> others;
    for (int i = 1; i < threads; i++) others.emplace_back([] { live::spin_forever(); });
    live::spin_forever();
  });
  const unsigned long long delay_before = run_delay_ns(spin.pid());
  sleep_until(start + 8'800'000'000ULL);
  // Stopped first: a stopped task waits on no run queue, so the kernel's count is final when read.
  ::kill(spin.pid(), SIGSTOP);
  live::sleep_s(0.05);
  const unsigned long long delay_after = run_delay_ns(spin.pid());
  const pid_t spin_pid = spin.pid();
  spin.kill_and_reap();
  const double stopped_at_s = static_cast<double>(monotonic_ns() - start) / 1e9;
  REQUIRE(stopped_at_s < 9.0);  // else the spinners' last interval falls in the last slice

  REQUIRE(rec.wait() == 0);
  io.kill_and_reap();
  const std::string db = dir.file("slices.db");

  const json whole = live::report_json(db);  // no slice: the whole window
  const std::vector<json> slices = {slice_report(db, 0, 5), slice_report(db, 5, 10), slice_report(db, 10, -1)};
  REQUIRE(whole["sched"].is_object());
  REQUIRE(whole["block"].is_object());
  for (const auto &s : slices) {
    REQUIRE(s["sched"].is_object());
    REQUIRE(s["block"].is_object());
  }

  {
    INFO("check: the middle slice shows the contention and cpu-saturation, the outer slices do not");
    const json &middle = slices[1];
    INFO("middle load: " << middle["sched"]["load"].dump());
    INFO("middle findings: " << middle["findings"].dump());
    CHECK(max_runnable(middle["sched"]) > static_cast<double>(ncpu));
    CHECK(middle["sched"]["load_avg"]["runnable"].get<double>() > 0.5 * static_cast<double>(ncpu));
    const json *f = finding(middle, "cpu-saturation");
    REQUIRE(f != nullptr);
    CHECK((*f)["first_t"].get<double>() > 5.0);
    CHECK((*f)["last_t"].get<double>() <= 10.0);
    CHECK((*f)["peak_t"].get<double>() >= (*f)["first_t"].get<double>());
    CHECK((*f)["peak_t"].get<double>() <= (*f)["last_t"].get<double>());
    // The whole window has it too, with the same span: a burst inside a longer window counts.
    const json *w = finding(whole, "cpu-saturation");
    REQUIRE(w != nullptr);
    CHECK((*w)["first_t"] == (*f)["first_t"]);
    CHECK((*w)["last_t"] == (*f)["last_t"]);
    for (size_t i : {size_t{0}, size_t{2}}) {
      INFO("slice " << i << " load: " << slices[i]["sched"]["load"].dump());
      INFO("slice " << i << " findings: " << slices[i]["findings"].dump());
      CHECK(max_runnable(slices[i]["sched"]) < static_cast<double>(ncpu));
      CHECK(finding(slices[i], "cpu-saturation") == nullptr);
      // No row of the spinners outside the middle slice.
      for (const auto &row : slices[i]["sched"]["top_runq"]) CHECK(row["pid"] != spin_pid);
    }
  }

  {
    INFO("check: sched: the three slices add up exactly to the whole window");
    for (const char *key : {"switches", "wakeups", "lost_events", "events_produced"}) {
      INFO(key);
      uint64_t sum = 0;
      for (const auto &s : slices) sum += s["sched"][key].get<uint64_t>();
      CHECK(sum == whole["sched"][key].get<uint64_t>());
    }
    CHECK(whole["sched"]["switches"].get<uint64_t>() > 1000);
    for (const char *hist : {"runq_latency", "dstate_time"}) {
      INFO(hist);
      uint64_t count = 0, sum = 0;
      for (const auto &s : slices) count += s["sched"][hist]["count"].get<uint64_t>(), sum += s["sched"][hist]["sum"].get<uint64_t>();
      CHECK(count == whole["sched"][hist]["count"].get<uint64_t>());
      CHECK(sum == whole["sched"][hist]["sum"].get<uint64_t>());
    }
    CHECK(check_list_adds_up(whole, slices, "sched", "top_runq", "total_ns") >= 3);
    CHECK(check_list_adds_up(whole, slices, "sched", "top_runq", "count") >= 3);
    CHECK(check_list_adds_up(whole, slices, "sched", "top_cpu", "cpu_ns") >= 3);
    check_list_adds_up(whole, slices, "sched", "top_dstate", "total_ns");
    // The lost-event accounting of the report adds up too.
    uint64_t produced = 0;
    for (const auto &s : slices) produced += s["lost_events"]["families"]["sched"]["produced"].get<uint64_t>();
    CHECK(produced == whole["lost_events"]["families"]["sched"]["produced"].get<uint64_t>());
  }

  {
    INFO("check: block: the three slices add up exactly to the whole window");
    const std::string dev_name = device.substr(device.rfind('/') + 1);
    auto loop_ops = [&](const json &report) -> json {
      for (const auto &d : report["block"]["devices"])
        if (d["name"] == dev_name) return d["ops"];
      return json();
    };
    const json whole_ops = loop_ops(whole);
    REQUIRE(whole_ops.is_object());
    CHECK(whole_ops["write"]["count"].get<uint64_t>() > 1000);
    for (const char *op : {"read", "write", "flush", "discard"}) {
      uint64_t count = 0, bytes = 0, latency_count = 0;
      for (const auto &s : slices) {
        json ops = loop_ops(s);
        REQUIRE(ops.is_object());  // I/O in every slice
        count += ops[op]["count"].get<uint64_t>();
        bytes += ops[op]["bytes"].get<uint64_t>();
        latency_count += ops[op]["latency"]["count"].get<uint64_t>();
      }
      INFO(op);
      CHECK(count == whole_ops[op]["count"].get<uint64_t>());
      CHECK(bytes == whole_ops[op]["bytes"].get<uint64_t>());
      CHECK(latency_count == whole_ops[op]["latency"]["count"].get<uint64_t>());
    }
    for (const char *key : {"completions", "unpaired_completions", "partial_completions", "dropped_requests",
                            "lost_events", "events_produced"}) {
      INFO(key);
      uint64_t sum = 0;
      for (const auto &s : slices) sum += s["block"][key].get<uint64_t>();
      CHECK(sum == whole["block"][key].get<uint64_t>());
    }
    CHECK(check_list_adds_up(whole, slices, "block", "top_processes", "count") >= 1);
    CHECK(check_list_adds_up(whole, slices, "block", "top_processes", "total_ns") >= 1);
    CHECK(check_list_adds_up(whole, slices, "block", "top_processes", "bytes") >= 1);
  }

  {
    INFO("check: the middle slice's run-queue wait of the spinners is the kernel's run_delay growth");
    const json *row = nullptr;
    for (const auto &r : slices[1]["sched"]["top_runq"])
      if (r["pid"] == spin_pid) row = &r;
    REQUIRE(row != nullptr);
    const double recorded = (*row)["total_ns"].get<double>();
    const double kernel = static_cast<double>(delay_after - delay_before);
    INFO("recorded " << recorded << " ns, schedstat run_delay grew " << kernel << " ns (before " << delay_before
                     << ")");
    REQUIRE(kernel > 1e9);  // the spinners really queued: 3 per CPU for 3.6 s
    // delay_before was read right after the fork: what the process waited before it is in the
    // recording and not in the difference. Within 1 % (the same kernel count, read per switch-in).
    CHECK(std::abs(recorded - kernel) <= 0.01 * kernel + static_cast<double>(delay_before) + 20e6);
  }
}

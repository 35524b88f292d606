// Findings from the /proc checklist: each rule fed data just below and just above its threshold,
// a healthy snapshot yields nothing, and build_report() runs the rules.
#include <catch2/catch.hpp>

#include "record/recording.h"
#include "recording_fixture.h"
#include "report/report.h"
#include "report/snapshot_findings.h"

using namespace triage;
using nlohmann::json;

namespace {

// A quiet 8 GiB box: nothing here is worth a finding. Includes what is full by design (a snap's
// squashfs image at 100%, a small tmpfs at 100%, an overlay root).
json healthy_snapshot() {
  return {{"time_ns", 1},
          {"mem",
           {{"total_kb", 8'000'000}, {"free_kb", 2'000'000}, {"available_kb", 6'000'000}, {"buffers_kb", 100'000},
            {"cached_kb", 3'000'000}, {"swap_total_kb", 2'000'000}, {"swap_free_kb", 1'900'000},
            {"swap_in_per_s", 0.0}, {"swap_out_per_s", 2.0}}},
          {"tasks",
           {{"R", 1}, {"S", 120}, {"D", 0}, {"Z", 0}, {"T", 0}, {"I", 30}, {"total", 151}, {"threads", 300},
            {"pid_max", 10'000}, {"zombies", json::array()}}},
          {"filesystems",
           json::array({{{"mount", "/"}, {"fstype", "ext4"}, {"device", "/dev/vda1"}, {"size_kb", 100'000'000},
                         {"avail_kb", 50'000'000}, {"used_pct", 50.0}, {"inodes", 6'000'000},
                         {"inodes_free", 5'000'000}, {"inodes_used_pct", 16.7}},
                        {{"mount", "/snap/core/123"}, {"fstype", "squashfs"}, {"device", "/dev/loop0"},
                         {"size_kb", 60'000}, {"avail_kb", 0}, {"used_pct", 100.0}, {"inodes", 12'000},
                         {"inodes_free", 0}, {"inodes_used_pct", 100.0}},
                        {{"mount", "/run/credentials"}, {"fstype", "tmpfs"}, {"device", "tmpfs"}, {"size_kb", 4},
                         {"avail_kb", 0}, {"used_pct", 100.0}, {"inodes", 1}, {"inodes_free", 0},
                         {"inodes_used_pct", 100.0}},
                        {{"mount", "/var/lib/docker/overlay2/x/merged"}, {"fstype", "overlay"}, {"device", "overlay"},
                         {"size_kb", 100}, {"avail_kb", 0}, {"used_pct", 100.0}, {"inodes", 10},
                         {"inodes_free", 0}, {"inodes_used_pct", 100.0}},
                        {{"mount", "/data"}, {"fstype", "btrfs"}, {"device", "/dev/vdb"}, {"size_kb", 1'000'000},
                         {"avail_kb", 900'000}, {"used_pct", 10.0}, {"inodes", 0}, {"inodes_free", 0},
                         {"inodes_used_pct", nullptr}}})},
          {"deleted_open_files",
           json::array({{{"pid", 500}, {"comm", "journald"}, {"path", "/var/log/journal/old"}, {"size_kb", 8'000}}})}};
}

json report_with(const json &start, const json &end) { return {{"snapshot", {{"start", start}, {"end", end}}}}; }

json findings_of(const json &start, const json &end) {
  json findings = json::array();
  add_snapshot_findings(report_with(start, end), findings);
  return findings;
}

// The finding with that id, or null.
json finding(const json &findings, const std::string &id) {
  for (const auto &f : findings)
    if (f["id"] == id) return f;
  return nullptr;
}

json fs(const std::string &mount, const std::string &fstype, double used_pct, double inodes_used_pct = 10) {
  return {{"mount", mount},          {"fstype", fstype},       {"device", "/dev/vdc"},
          {"size_kb", 10'000'000},   {"avail_kb", 10'000'000 * (100 - used_pct) / 100},
          {"used_pct", used_pct},    {"inodes", 1'000'000},    {"inodes_free", 1'000'000 * (100 - inodes_used_pct) / 100},
          {"inodes_used_pct", inodes_used_pct}};
}

void check_shape(const json &f) {
  for (const char *k : {"id", "severity", "title", "evidence", "advice"}) CHECK(f.contains(k));
  CHECK(f["evidence"].is_object());
  CHECK(f["advice"].get<std::string>().size() > 20);
}

}  // namespace

TEST_CASE("snapshot findings: a healthy machine, squashfs/tmpfs/overlay at 100% included, gets none") {
  CHECK(findings_of(healthy_snapshot(), healthy_snapshot()).empty());
  CHECK(findings_of(nullptr, healthy_snapshot()).empty());
  CHECK(findings_of(healthy_snapshot(), nullptr).empty());
  CHECK(findings_of(nullptr, nullptr).empty());
  json partial = {{"mem", nullptr}, {"tasks", nullptr}, {"filesystems", json::array()}};
  CHECK(findings_of(partial, partial).empty());
}

TEST_CASE("snapshot findings: memory-pressure below 10% available, critical below 5%") {
  auto with_available = [](double kb) {
    json s = healthy_snapshot();
    s["mem"]["available_kb"] = kb;
    return s;
  };
  CHECK(finding(findings_of(healthy_snapshot(), with_available(801'000)), "memory-pressure").is_null());  // 10.01%
  json warn = finding(findings_of(healthy_snapshot(), with_available(799'000)), "memory-pressure");      // 9.99%
  REQUIRE(warn.is_object());
  check_shape(warn);
  CHECK(warn["severity"] == "warning");
  CHECK(warn["evidence"]["when"] == "end");
  CHECK(finding(findings_of(healthy_snapshot(), with_available(401'000)), "memory-pressure")["severity"] == "warning");
  CHECK(finding(findings_of(with_available(399'000), healthy_snapshot()), "memory-pressure")["severity"] == "critical");
}

TEST_CASE("snapshot findings: swap-activity from 100 pages/s in+out, critical from 1000") {
  auto with_swap = [](double in, double out) {
    json s = healthy_snapshot();
    s["mem"]["swap_in_per_s"] = in;
    s["mem"]["swap_out_per_s"] = out;
    return s;
  };
  CHECK(finding(findings_of(healthy_snapshot(), with_swap(49.9, 50)), "swap-activity").is_null());
  json warn = finding(findings_of(healthy_snapshot(), with_swap(50, 50.1)), "swap-activity");
  REQUIRE(warn.is_object());
  check_shape(warn);
  CHECK(warn["severity"] == "warning");
  CHECK(finding(findings_of(with_swap(999, 0), healthy_snapshot()), "swap-activity")["severity"] == "warning");
  CHECK(finding(findings_of(with_swap(1000, 0), healthy_snapshot()), "swap-activity")["severity"] == "critical");
}

TEST_CASE("snapshot findings: zombies are info from one, a warning from 50, naming the parent") {
  auto with_zombies = [](int n) {
    json s = healthy_snapshot();
    s["tasks"]["Z"] = n;
    for (int i = 0; i < std::min(n, 3); i++)
      s["tasks"]["zombies"].push_back({{"pid", 900 + i}, {"comm", "worker"}, {"ppid", 300}, {"parent_comm", "postgres"}});
    return s;
  };
  CHECK(finding(findings_of(nullptr, with_zombies(0)), "zombies").is_null());
  json one = finding(findings_of(nullptr, with_zombies(1)), "zombies");
  REQUIRE(one.is_object());
  check_shape(one);
  CHECK(one["severity"] == "info");
  CHECK(one["title"].get<std::string>().find("postgres (300)") != std::string::npos);
  CHECK(finding(findings_of(nullptr, with_zombies(49)), "zombies")["severity"] == "info");
  CHECK(finding(findings_of(nullptr, with_zombies(50)), "zombies")["severity"] == "warning");
}

TEST_CASE("snapshot findings: pid-exhaustion counts threads against pid_max, 80% and 95%") {
  auto with_threads = [](int n) {
    json s = healthy_snapshot();
    s["tasks"]["threads"] = n;
    return s;
  };
  CHECK(finding(findings_of(nullptr, with_threads(7'999)), "pid-exhaustion").is_null());
  json warn = finding(findings_of(nullptr, with_threads(8'000)), "pid-exhaustion");
  REQUIRE(warn.is_object());
  check_shape(warn);
  CHECK(warn["severity"] == "warning");
  CHECK(finding(findings_of(nullptr, with_threads(9'499)), "pid-exhaustion")["severity"] == "warning");
  CHECK(finding(findings_of(nullptr, with_threads(9'500)), "pid-exhaustion")["severity"] == "critical");
  json no_pid_max = with_threads(9'999);
  no_pid_max["tasks"]["pid_max"] = nullptr;
  CHECK(finding(findings_of(nullptr, no_pid_max), "pid-exhaustion").is_null());
}

TEST_CASE("snapshot findings: disk-full on writable real filesystems at 90% and 98%") {
  auto with_fs = [](const json &f) {
    json s = healthy_snapshot();
    s["filesystems"].push_back(f);
    return s;
  };
  CHECK(finding(findings_of(nullptr, with_fs(fs("/var", "xfs", 89.9))), "disk-full").is_null());
  json warn = finding(findings_of(nullptr, with_fs(fs("/var", "xfs", 90.0))), "disk-full");
  REQUIRE(warn.is_object());
  check_shape(warn);
  CHECK(warn["severity"] == "warning");
  CHECK(warn["evidence"]["mount"] == "/var");
  CHECK(finding(findings_of(nullptr, with_fs(fs("/var", "xfs", 97.9))), "disk-full")["severity"] == "warning");
  CHECK(finding(findings_of(nullptr, with_fs(fs("/var", "xfs", 98.0))), "disk-full")["severity"] == "critical");
  // Full by design: images and memory-backed mounts, and a mount a snapshot marks read-only.
  for (const char *fstype : {"squashfs", "iso9660", "erofs", "tmpfs", "overlay"})
    CHECK(finding(findings_of(nullptr, with_fs(fs("/img", fstype, 100))), "disk-full").is_null());
  json read_only = fs("/ro", "ext4", 100);
  read_only["read_only"] = true;
  CHECK(finding(findings_of(nullptr, with_fs(read_only)), "disk-full").is_null());
  // Filled during the window: the title says how much.
  json before = with_fs(fs("/var", "xfs", 80)), after = with_fs(fs("/var", "xfs", 95));
  json grew = finding(findings_of(before, after), "disk-full");
  REQUIRE(grew.is_object());
  CHECK(grew["evidence"]["avail_change_kb"].get<double>() == Approx(-1'500'000));
  CHECK(grew["title"].get<std::string>().find("used up during the window") != std::string::npos);
}

TEST_CASE("snapshot findings: inodes-full at 90% and 98% of inodes, not for btrfs's null") {
  auto with_inodes = [](double pct) {
    json s = healthy_snapshot();
    s["filesystems"].push_back(fs("/srv", "ext4", 20, pct));
    return s;
  };
  CHECK(finding(findings_of(nullptr, with_inodes(89.9)), "inodes-full").is_null());
  json warn = finding(findings_of(nullptr, with_inodes(90)), "inodes-full");
  REQUIRE(warn.is_object());
  check_shape(warn);
  CHECK(warn["severity"] == "warning");
  CHECK(finding(findings_of(nullptr, with_inodes(98)), "inodes-full")["severity"] == "critical");
  CHECK(finding(findings_of(nullptr, with_inodes(98)), "disk-full").is_null());
}

TEST_CASE("snapshot findings: deleted-open-files info from 100 MiB, warning from 1 GiB, critical on a full disk") {
  auto with_deleted = [](double kb, double root_used_pct = 50) {
    json s = healthy_snapshot();
    s["filesystems"][0]["used_pct"] = root_used_pct;
    s["deleted_open_files"] = json::array(
        {{{"pid", 700}, {"comm", "java"}, {"path", "/var/log/app.log"}, {"size_kb", kb}},
         // The same file held by a forked worker counts once.
         {{"pid", 701}, {"comm", "java"}, {"path", "/var/log/app.log"}, {"size_kb", kb}}});
    return s;
  };
  constexpr double kMiB = 1024, kGiB = 1024 * 1024;
  CHECK(finding(findings_of(nullptr, with_deleted(100 * kMiB - 1)), "deleted-open-files").is_null());
  json info = finding(findings_of(nullptr, with_deleted(100 * kMiB)), "deleted-open-files");
  REQUIRE(info.is_object());
  check_shape(info);
  CHECK(info["severity"] == "info");
  CHECK(info["evidence"]["total_kb"].get<double>() == Approx(100 * kMiB));
  CHECK(info["evidence"]["files"] == 1);
  CHECK(finding(findings_of(nullptr, with_deleted(kGiB - 1)), "deleted-open-files")["severity"] == "info");
  CHECK(finding(findings_of(nullptr, with_deleted(kGiB)), "deleted-open-files")["severity"] == "warning");
  json critical = finding(findings_of(nullptr, with_deleted(kGiB, 95)), "deleted-open-files");
  CHECK(critical["severity"] == "critical");
  CHECK(critical["evidence"]["on_full_filesystem"] == "/");
}

TEST_CASE("snapshot findings: build_report runs them on the recorded snapshots") {
  test::RecordingFixture fx(1'000'000'000ULL);
  {
    auto &w = fx.writer();
    w.set_meta("end_ns", 2'000'000'000ULL);
    w.set_meta("ncpu", 2);
    json full = healthy_snapshot();
    full["mem"]["available_kb"] = 100'000;
    w.put_snapshot("start", healthy_snapshot());
    w.put_snapshot("end", full);
  }
  json report = fx.report();
  REQUIRE(!report["findings"].empty());
  CHECK(report["findings"][0]["id"] == "memory-pressure");
  CHECK(report["findings"][0]["severity"] == "critical");
}

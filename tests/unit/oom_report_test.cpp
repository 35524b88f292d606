// The oom family's log parsing, kill rows and report, fed synthetic events.
#include <catch2/catch.hpp>

#include <cstring>

#include "oom/oom_kmsg.h"
#include "oom/oom_report.h"
#include "oom/oom_rows.h"
#include "record/recording.h"
#include "recording_fixture.h"

using namespace triage;
using namespace triage::oom;

namespace {

constexpr uint64_t kStart = 5'000'000'000ULL;

oom_event memcg_victim() {
  oom_event e{};
  e.time_ns = kStart + 2'000'000'000ULL;
  e.victim_pid = e.victim_tgid = 4321;
  e.trigger_pid = e.trigger_tgid = 4321;
  std::strcpy(e.victim_comm, "hog");
  std::strcpy(e.trigger_comm, "hog");
  e.anon_pages = 12'000;  // 48000 kB
  e.file_pages = 100;
  e.shmem_pages = 1;
  e.total_vm_pages = 20'000;
  e.pgtables_bytes = 128 * 1024;
  e.uid = 1000;
  e.oom_score_adj = 200;
  e.memcg_usage_pages = 12'800;  // 50 MiB, at its limit
  e.memcg_limit_pages = 12'800;
  e.memcg_depth = 2;
  std::strcpy(e.memcg_path[0], "job-7");
  std::strcpy(e.memcg_path[1], "batch");
  return e;
}

}  // namespace

TEST_CASE("the oom-kill log line gives the constraint and the victim pid", "[oom]") {
  std::string record =
      "3,1234,5678901,-;oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=/,mems_allowed=0,"
      "oom_memcg=/batch,task_memcg=/batch/job-7,task=a,b,pid=4321,uid=1000\n";
  std::string_view text = kmsg_text(record);
  auto line = parse_oom_kill_line(text);
  REQUIRE(line);
  CHECK(line->constraint == "memcg");
  CHECK(line->oom_memcg == "/batch");
  CHECK(line->task_memcg == "/batch/job-7");
  CHECK(line->task == "a,b");
  CHECK(line->pid == 4321);
  CHECK(line->uid == 1000);

  auto global = parse_oom_kill_line("oom-kill:constraint=CONSTRAINT_NONE,nodemask=(null),cpuset=/,mems_allowed=0,"
                                    "global_oom,task_memcg=/,task=x,pid=9,uid=0");
  REQUIRE(global);
  CHECK(global->constraint == "global");
  CHECK(global->pid == 9);
  CHECK_FALSE(parse_oom_kill_line("Out of memory: Killed process 1"));
  CHECK(kmsg_text(" SUBSYSTEM=cpu").empty());
}

TEST_CASE("the Killed process line parses, with a comm holding spaces", "[oom]") {
  auto k = parse_killed_process_line(
      "Memory cgroup out of memory: Killed process 4321 (my hog) total-vm:80000kB, anon-rss:48000kB, "
      "file-rss:400kB, shmem-rss:4kB, UID:1000 pgtables:128kB oom_score_adj:-100");
  REQUIRE(k);
  CHECK(k->pid == 4321);
  CHECK(k->comm == "my hog");
  CHECK(k->total_vm_kb == 80000);
  CHECK(k->anon_rss_kb == 48000);
  CHECK(k->file_rss_kb == 400);
  CHECK(k->shmem_rss_kb == 4);
  CHECK(k->uid == 1000);
  CHECK(k->pgtables_kb == 128);
  CHECK(k->oom_score_adj == -100);
}

TEST_CASE("a kill row takes the constraint from the log, else infers it from the cgroup", "[oom]") {
  oom_event e = memcg_victim();
  OomKillLine log;
  log.constraint = "memcg";
  log.pid = 4321;
  json row = kill_row(e, log, std::nullopt, 4096);
  CHECK(row["victim_pid"] == 4321);
  CHECK(row["victim_comm"] == "hog");
  CHECK(row["anon_rss_kb"] == 48000);
  CHECK(row["victim_rss_kb"] == 48000 + 400 + 4);
  CHECK(row["memcg"] == "/batch/job-7");
  CHECK(row["memcg_limit_kb"] == 51200);
  CHECK(row["memcg_usage_kb"] == 51200);
  CHECK(row["constraint"] == "memcg");
  CHECK(row["constraint_source"] == "kmsg");
  CHECK(row["oom_score_adj"] == 200);
  CHECK(row["uid"] == 1000);

  json inferred = kill_row(e, std::nullopt, std::nullopt, 4096);
  CHECK(inferred["constraint"] == "memcg");

  e.memcg_limit_pages = (1ULL << 62) / 4096;  // the root: no limit
  e.memcg_depth = 0;
  json unknown = kill_row(e, std::nullopt, std::nullopt, 4096);
  CHECK(unknown["memcg_limit_kb"].is_null());
  CHECK(unknown["memcg"] == "/");
  CHECK(unknown["constraint"] == "unknown");
}

TEST_CASE("the oom section counts a kill once however often the victim was marked", "[oom]") {
  test::RecordingFixture fx(kStart);
  {
    auto &w = fx.writer();
    w.set_meta("start_realtime_ns", 1'700'000'000'000'000'000ULL);
    w.put_snapshot("end", {{"mem", {{"total_kb", 2'000'000}, {"available_kb", 1'500'000}, {"free_kb", 1}}}});
    oom_event e = memcg_victim();
    OomKillLine log;
    log.constraint = "memcg";
    w.add_event(e.time_ns, "oom", "kill", kill_row(e, log, std::nullopt, 4096));
    w.add_event(e.time_ns + 1000, "oom", "kill", kill_row(e, log, std::nullopt, 4096));  // marked again
    w.set_meta(kOomConfigMeta, {{"method", "tp_btf"}, {"kmsg", "read"}});
    OomCounters counters;
    counters.marks = 2;
    DeltaTable<OomCounters>("oom", "counters").write(e.time_ns + 2000, {counters}, w);
    fx.close();
  }
  json report;
  report["oom"] = build_section(*fx.reader(), kStart);

  const json &s = report["oom"];
  REQUIRE(s["kills"].size() == 1);
  CHECK(s["count"] == 1);
  CHECK(s["marks"] == 2);
  CHECK(s["kills"][0]["marks"] == 2);
  CHECK(s["kills"][0]["time_ns"] == 1'700'000'002'000'000'000ULL);
  CHECK(s["memory"]["end"]["available_kb"] == 1'500'000);
  CHECK_FALSE(s["memory"]["end"].contains("free_kb"));
  CHECK(s["memory"]["start"].is_null());

  json findings = json::array();
  add_findings(report, findings);
  REQUIRE(findings.size() == 1);
  CHECK(findings[0]["id"] == "oom-kill");
  CHECK(findings[0]["severity"] == "critical");
  CHECK(findings[0]["title"].get<std::string>().find("hog (4321)") != std::string::npos);
  CHECK(findings[0]["evidence"]["memcg"] == "/batch/job-7");
  CHECK(findings[0]["evidence"]["trigger"] == "hog (4321)");

  std::string text;
  render_text(s, text);
  CHECK(text.find("/batch/job-7") != std::string::npos);
}

TEST_CASE("no kill, no finding", "[oom]") {
  json report;
  report["oom"] = {{"kills", json::array()}, {"count", 0}};
  json findings = json::array();
  add_findings(report, findings);
  CHECK(findings.empty());
}

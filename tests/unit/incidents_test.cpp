// server-saturated, server-stall and the cause-before-symptoms ordering, on made-up report JSON
// (report/incidents.h): what the tcp and sched sections would hold for each case.
#include <catch2/catch.hpp>

#include <string>

#include <nlohmann/json.hpp>

#include "core/json_fields.h"
#include "report/incidents.h"

using nlohmann::json;
using namespace triage;

namespace {

const json *find(const json &findings, const std::string &id) {
  for (const auto &f : findings)
    if (f.value("id", "") == id) return &f;
  return nullptr;
}

// A 2-CPU, 6 s window; sched per interval: `busy` per CPU and the CPU each pid used.
json window_report() {
  json report;
  report["window"] = {{"duration_s", 6.0}, {"ncpu", 2}, {"interval_s", 1.0}};
  report["sched"] = {{"top_cpu", json::array()}, {"top_cpu_series", json::array()}, {"cpu_busy_series", json::array()}};
  report["tcp"] = {{"servers", json::array()}, {"read_timeouts", json::array()}, {"resets", {{"events", json::array()}}}};
  return report;
}

void add_interval(json &report, double t, std::vector<double> busy, const std::vector<std::pair<int, double>> &cpu_by_pid) {
  json rows = json::array();
  for (const auto &[pid, cpus] : cpu_by_pid) rows.push_back({{"pid", pid}, {"cpu_ns", static_cast<uint64_t>(cpus * 1e9)}});
  report["sched"]["top_cpu_series"].push_back({{"t", t}, {"rows", rows}});
  report["sched"]["cpu_busy_series"].push_back({{"t", t}, {"busy_pct", busy}});
}

json server(const std::vector<int> &pids, const char *comm) {
  return {{"netns", 1}, {"addr", "127.0.0.1"}, {"port", 8080}, {"pids", pids}, {"comm", comm}, {"samples", json::array()}};
}

json sample(double t, uint64_t backlog, bool full, uint64_t overflows) {
  return {{"t", t},          {"since_t", t - 1},       {"backlog", backlog},  {"backlog_max", 16},
          {"full", full},    {"overflows", overflows}, {"compared", true},    {"accepted_new", 5},
          {"unread_sockets", 0}, {"unread_stuck", 0},  {"read_progress", 0}, {"unread_bytes", 0}, {"app_closes", 0}};
}

// nginx: master 100 (idle), one worker 101 pegging a CPU, the other CPU mostly idle.
json one_worker_nginx() {
  json report = window_report();
  report["sched"]["top_cpu"] = json::array(
      {{{"pid", 101}, {"comm", "nginx"}, {"cpu_ns", 5'800'000'000ULL},
        {"threads", json::array({{{"tid", 101}, {"comm", "nginx"}, {"cpu_ns", 5'800'000'000ULL}}})}},
       {{"pid", 100}, {"comm", "nginx"}, {"cpu_ns", 1'000'000ULL},
        {"threads", json::array({{{"tid", 100}, {"comm", "nginx"}, {"cpu_ns", 1'000'000ULL}}})}}});
  json s = server({100, 101}, "nginx");
  for (int t = 1; t <= 6; t++) {
    add_interval(report, t, {99.0, 12.0}, {{101, 0.98}, {100, 0.0}});
    s["samples"].push_back(sample(t, 16, true, t >= 2 ? 40 : 0));
  }
  report["tcp"]["servers"].push_back(s);
  return report;
}

}  // namespace

TEST_CASE("incidents: one pegged worker beside an idle CPU with a full accept queue is server-saturated") {
  json report = one_worker_nginx();
  json findings = json::array();
  add_incident_findings(report, findings);
  const json *f = find(findings, "server-saturated");
  REQUIRE(f);
  CHECK(f->at("severity") == "critical");  // it overflowed
  const auto &e = f->at("evidence");
  CHECK(e["pids"] == json::array({100, 101}));
  CHECK(e["busy_threads"] == 1);
  CHECK(e["threads"] == 2);
  CHECK(e["overflows"] == 200);
  CHECK(e["idle_cpus"].get<double>() == Approx(0.89));
  CHECK(e["listener"] == "127.0.0.1:8080");
  CHECK(f->at("first_t") == Approx(1.0));
  CHECK(f->at("last_t") == Approx(6.0));
  CHECK(f->at("title").get<std::string>().find("too few workers") != std::string::npos);
  CHECK(find(findings, "server-stall") == nullptr);  // it accepted all along
}

TEST_CASE("incidents: the same queue with both CPUs busy, or a worker not pegged, is not server-saturated") {
  json busy = one_worker_nginx();
  for (auto &row : busy["sched"]["cpu_busy_series"]) row["busy_pct"] = {99.0, 90.0};
  json findings = json::array();
  add_incident_findings(busy, findings);
  CHECK(find(findings, "server-saturated") == nullptr);

  json slack = one_worker_nginx();
  for (auto &row : slack["sched"]["top_cpu_series"]) row["rows"][0]["cpu_ns"] = 400'000'000ULL;
  findings = json::array();
  add_incident_findings(slack, findings);
  CHECK(find(findings, "server-saturated") == nullptr);

  json no_queue = one_worker_nginx();
  for (auto &s : no_queue["tcp"]["servers"][0]["samples"]) s["backlog"] = 0, s["full"] = false, s["overflows"] = 0;
  findings = json::array();
  add_incident_findings(no_queue, findings);
  CHECK(find(findings, "server-saturated") == nullptr);
}

TEST_CASE("incidents: a server that accepts and reads nothing for 2 s while alive is server-stall, with its span") {
  json report = window_report();
  json s = server({200}, "java");
  for (int t = 1; t <= 6; t++) {
    add_interval(report, t, {60.0, 5.0}, {{200, 0.6}});
    json row = sample(t, 0, false, 0);
    if (t == 3 || t == 4) {  // 2.0-4.0: nothing accepted or read, queue growing, sockets unread
      row["accepted_new"] = 0;
      row["backlog"] = t == 3 ? 5 : 9;
      row["unread_sockets"] = 4;
      row["unread_stuck"] = 4;
      row["unread_bytes"] = 400;
    }
    s["samples"].push_back(row);
  }
  report["tcp"]["servers"].push_back(s);
  report["tcp"]["read_timeouts"] = json::array({{{"t", 3.1}, {"dport", 8080}, {"timeout_ms", 1000}},
                                               {{"t", 9.0}, {"dport", 8080}, {"timeout_ms", 1000}}});
  json findings = json::array();
  add_incident_findings(report, findings);
  const json *f = find(findings, "server-stall");
  REQUIRE(f);
  const auto &e = f->at("evidence");
  REQUIRE(e["spans"].size() == 1);
  CHECK(e["spans"][0]["from_t"] == Approx(2.0));
  CHECK(e["spans"][0]["to_t"] == Approx(4.0));
  CHECK(e["spans"][0]["accept_backlog_peak"] == 9);
  CHECK(e["spans"][0]["process_cpus"].get<double>() == Approx(0.6));
  CHECK(e["longest_s"] == Approx(2.0));
  CHECK(e["client_read_timeouts"] == 1);  // the one at 9 s is outside the stall
  CHECK(f->at("first_t") == Approx(2.0));
  CHECK(f->at("last_t") == Approx(4.0));
  CHECK(find(findings, "server-saturated") == nullptr);
}

TEST_CASE("incidents: a quiet server, or one whose stall is shorter than a second apart, raises nothing") {
  json report = window_report();
  json s = server({200}, "idle");
  for (int t = 1; t <= 6; t++) {
    add_interval(report, t, {1.0, 1.0}, {{200, 0.0}});
    json row = sample(t, 0, false, 0);
    row["accepted_new"] = 0;  // nothing came: no queue, nothing unread
    s["samples"].push_back(row);
  }
  report["tcp"]["servers"].push_back(s);
  json findings = json::array();
  add_incident_findings(report, findings);
  CHECK(findings.empty());
}

TEST_CASE("incidents: a damaged recording's numbers (negative, huge, strings) read as defaults, never throw") {
  json report = one_worker_nginx();
  for (auto &s : report["tcp"]["servers"][0]["samples"]) {
    s["backlog"] = -1;
    s["overflows"] = 1e300;
    s["accepted_new"] = "many";
    s["t"] = nullptr;
  }
  report["sched"]["top_cpu"][0]["cpu_ns"] = -5.5;
  report["tcp"]["read_timeouts"] = json::array({{{"t", "x"}, {"dport", -8080}, {"timeout_ms", 1e300}}});
  json findings = json::array();
  REQUIRE_NOTHROW(add_incident_findings(report, findings));
  for (const auto &f : findings) CHECK(f["title"].is_string());
  CHECK(u64(json{{"n", -1}}, "n") == 0);
  CHECK(u64(json{{"n", 1e300}}, "n") == UINT64_MAX);
  CHECK(u64(json{{"n", "7"}}, "n") == 0);
  CHECK(u64(json::array(), "n") == 0);
}

TEST_CASE("incidents: a cause is listed first, its symptoms under it, and takes their severity") {
  json findings = json::array(
      {{{"id", "listen-overflow"}, {"severity", "critical"}, {"first_t", 2.0}, {"last_t", 6.0},
        {"evidence", {{"listener", "127.0.0.1:8080"}, {"pid", 100}}}},
       {{"id", "read-timeout"}, {"severity", "warning"}, {"first_t", 3.0}, {"last_t", 5.0},
        {"evidence", {{"target", "127.0.0.1:8080"}}}},
       {{"id", "read-timeout"}, {"severity", "warning"}, {"first_t", 3.0}, {"last_t", 5.0},
        {"evidence", {{"target", "10.0.0.9:5432"}}}},
       {{"id", "cpu-imbalance"}, {"severity", "warning"}, {"first_t", 1.0}, {"last_t", 6.0}, {"evidence", json::object()}},
       {{"id", "server-saturated"}, {"severity", "warning"}, {"first_t", 1.0}, {"last_t", 6.0},
        {"evidence", {{"listener", "127.0.0.1:8080"}, {"port", 8080}, {"pids", {100, 101}}}}}});
  link_causes(findings);
  REQUIRE(findings.size() == 5);
  CHECK(findings[0]["id"] == "server-saturated");
  CHECK(findings[0]["severity"] == "critical");
  CHECK(findings[0]["explains"] == json::array({"listen-overflow", "read-timeout", "cpu-imbalance"}));
  CHECK(findings[1]["explained_by"] == "server-saturated");
  CHECK(findings[2]["explained_by"] == "server-saturated");
  CHECK(findings[3]["explained_by"] == "server-saturated");
  CHECK(findings[4]["evidence"]["target"] == "10.0.0.9:5432");  // another service's timeouts stand alone
  CHECK_FALSE(findings[4].contains("explained_by"));
}

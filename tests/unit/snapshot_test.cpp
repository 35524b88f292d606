// Unit tests of the /proc checklist snapshot: each parser on a fixture with exact numbers, missing
// files, terminal safety, and the live snapshot of this machine.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <set>

#include <catch2/catch.hpp>

#include "snapshot/snapshot.h"
#include "snapshot/snapshot_parts.h"

#ifndef TRIAGE_FIXTURES_DIR
#define TRIAGE_FIXTURES_DIR "tests/fixtures"  // standalone builds run from the repository root
#endif

using nlohmann::json;
using namespace triage;
using namespace triage::snapshot_detail;

namespace {

const std::string kModern = std::string(TRIAGE_FIXTURES_DIR) + "/proc/modern";  // Linux 6.x formats
const std::string kLegacy = std::string(TRIAGE_FIXTURES_DIR) + "/proc/legacy";  // 2.6.9 stat, 3.10 meminfo

std::string fixture(const std::string &root, const std::string &file) {
  std::string reason;
  auto text = read_text_file(root + "/" + file, &reason);
  INFO(reason);
  REQUIRE(text);
  return *text;
}

SnapshotOptions fixture_options(const std::string &root) {
  SnapshotOptions options;
  options.proc_root = root;
  options.kmsg_path = root + "/kmsg";
  options.cpu_sample_ms = 0;
  options.read_sockets = false;
  return options;
}

std::set<std::string> skipped_parts(const json &snapshot) {
  std::set<std::string> parts;
  for (const auto &entry : snapshot["skipped"]) parts.insert(entry["part"].get<std::string>());
  return parts;
}

const std::vector<std::string> kTopLevelKeys = {
    "time_ns", "uptime_s", "loadavg", "procs_running", "procs_blocked", "ncpu", "cpus", "mem", "filesystems",
    "deleted_open_files", "tasks", "sockets", "netstat", "kmsg", "skipped"};

void require_all_top_level_keys(const json &snapshot) {
  for (const auto &key : kTopLevelKeys) {
    INFO(key);
    REQUIRE(snapshot.contains(key));
  }
}

}  // namespace

// ---- system-wide files ----------------------------------------------------------------------

TEST_CASE("loadavg and uptime parse", "[snapshot]") {
  auto load = parse_loadavg(fixture(kModern, "loadavg"));
  REQUIRE(load);
  CHECK(load->one == Approx(0.52));
  CHECK(load->five == Approx(0.40));
  CHECK(load->fifteen == Approx(0.31));
  CHECK(parse_uptime(fixture(kModern, "uptime")) == Approx(3605.25));
  CHECK_FALSE(parse_loadavg("garbage\n"));
  CHECK_FALSE(parse_uptime(""));
}

TEST_CASE("/proc/stat of a current kernel parses per CPU", "[snapshot]") {
  auto stat = parse_proc_stat(fixture(kModern, "stat"));
  REQUIRE(stat.cpus.size() == 2);  // the aggregate "cpu" line is not a CPU
  const auto &cpu1 = stat.cpus[1];
  CHECK(cpu1.cpu == 1);
  CHECK(cpu1.user == 3312);
  CHECK(cpu1.nice == 76);
  CHECK(cpu1.system == 301);
  CHECK(cpu1.idle == 1876);
  CHECK(cpu1.iowait == 9);
  CHECK(cpu1.softirq == 4);
  CHECK(stat.procs_running == 3);
  CHECK(stat.procs_blocked == 1);
}

TEST_CASE("/proc/stat of old kernels with fewer columns parses with zeros", "[snapshot]") {
  auto stat = parse_proc_stat(fixture(kLegacy, "stat"));  // 2.6.9: no steal column
  REQUIRE(stat.cpus.size() == 2);
  CHECK(stat.cpus[0].user == 1132);
  CHECK(stat.cpus[0].softirq == 438);
  CHECK(stat.cpus[0].steal == 0);

  auto linux24 = parse_proc_stat("cpu  10 0 5 85\ncpu0 10 0 5 85\n");  // 2.4: user nice system idle
  REQUIRE(linux24.cpus.size() == 1);
  CHECK(linux24.cpus[0].idle == 85);
  CHECK(linux24.cpus[0].iowait == 0);
  CHECK_FALSE(linux24.procs_running);
}

TEST_CASE("CPU percentages over a sample count nice as user and irq as system", "[snapshot]") {
  auto before = parse_proc_stat("cpu0 100 0 100 800 0 0 0 0 0 0\n").cpus;
  auto after = parse_proc_stat("cpu0 150 10 120 900 10 5 5 0 7 0\n").cpus;  // guest 7 is inside user already
  auto cpus = cpu_percentages(before, after);
  REQUIRE(cpus.size() == 1);
  CHECK(cpus[0]["cpu"] == 0);
  CHECK(cpus[0]["user"].get<double>() == Approx(30.0));    // (50 + 10) / 200
  CHECK(cpus[0]["system"].get<double>() == Approx(15.0));  // (20 + 5 + 5) / 200
  CHECK(cpus[0]["iowait"].get<double>() == Approx(5.0));
  CHECK(cpus[0]["idle"].get<double>() == Approx(50.0));
  CHECK(cpus[0]["steal"].get<double>() == Approx(0.0));

  auto since_boot = cpu_percentages({}, parse_proc_stat(fixture(kModern, "stat")).cpus);
  CHECK(since_boot[0]["user"].get<double>() == Approx(44.1));  // (1393 + 280) / 3797
}

TEST_CASE("meminfo parses, with MemAvailable missing on kernels before 3.14", "[snapshot]") {
  auto mem = mem_from_meminfo(parse_key_values(fixture(kModern, "meminfo")));
  CHECK(mem["total_kb"] == 16303428);
  CHECK(mem["free_kb"] == 1186092);
  CHECK(mem["available_kb"] == 10487716);
  CHECK(mem["buffers_kb"] == 412088);
  CHECK(mem["cached_kb"] == 8712284);
  CHECK(mem["swap_total_kb"] == 2097148);
  CHECK(mem["swap_free_kb"] == 1835004);

  auto old = mem_from_meminfo(parse_key_values(fixture(kLegacy, "meminfo")));
  CHECK(old["total_kb"] == 3921320);
  CHECK(old["available_kb"].is_null());
}

TEST_CASE("vmstat parses as key value lines", "[snapshot]") {
  auto vmstat = parse_key_values(fixture(kModern, "vmstat"));
  CHECK(vmstat.at("pswpin") == 7200);
  CHECK(vmstat.at("pswpout") == 36050);
}

TEST_CASE("netstat holds all TcpExt counters and the Tcp counters of snmp prefixed", "[snapshot]") {
  auto counters = netstat_counters(fixture(kModern, "net/netstat"), fixture(kModern, "net/snmp"));
  CHECK(counters["TcpRetransSegs"] == 1534);
  CHECK(counters["TcpEstabResets"] == 64);
  CHECK(counters["TcpOutRsts"] == 219);
  CHECK(counters["TcpMaxConn"] == -1);
  CHECK(counters["ListenOverflows"] == 42);
  CHECK(counters["ListenDrops"] == 45);
  CHECK(counters["SyncookiesSent"] == 17);
  CHECK(counters["SyncookiesRecv"] == 4);
  CHECK(counters["SyncookiesFailed"] == 2);
  CHECK(counters["TCPTimeouts"] == 311);
  CHECK(counters["TCPSynRetrans"] == 97);
  CHECK(counters["TCPAbortOnTimeout"] == 6);
  CHECK(counters["TCPReqQFullDrop"] == 1);
  CHECK(counters["TCPReqQFullDoCookies"] == 3);
  CHECK(counters.size() == 12 + 15);  // IpExt, Ip and Udp are left out
  CHECK_FALSE(counters.contains("InOctets"));
  CHECK_FALSE(counters.contains("UdpInDatagrams"));
}

// ---- filesystems ----------------------------------------------------------------------------

TEST_CASE("mounts keep real filesystems and tmpfs, one line per device", "[snapshot]") {
  auto mounts = parse_mounts(fixture(kModern, "mounts"));
  REQUIRE(mounts.size() == 12);
  CHECK(mounts[8].mount == "/home/shared files");  // \040 decoded

  auto chosen = filesystems_worth_reporting(mounts);
  std::vector<std::string> points;
  for (const auto &fs : chosen) points.push_back(fs.mount);
  CHECK(points == std::vector<std::string>{"/run", "/", "/dev/shm", "/home/shared files",
                                           "/var/lib/docker/overlay2/abc/merged"});
}

TEST_CASE("filesystem usage reads statvfs and notes unreachable mounts", "[snapshot]") {
  SkipLog skipped;
  auto usage = filesystem_usage({{"/dev/root", "/", "ext4"}, {"/dev/gone", "/no/such/mount", "ext4"}}, skipped);
  REQUIRE(usage.size() == 1);
  CHECK(usage[0]["mount"] == "/");
  CHECK(usage[0]["size_kb"].get<int64_t>() > 0);
  CHECK(usage[0]["avail_kb"].get<int64_t>() <= usage[0]["size_kb"].get<int64_t>());
  REQUIRE(skipped.entries().size() == 1);
  CHECK(skipped.entries()[0].first == "filesystems");
}

// ---- processes ------------------------------------------------------------------------------

TEST_CASE("pid stat parses a comm holding spaces and parentheses", "[snapshot]") {
  auto stat = parse_pid_stat(fixture(kModern, "401/stat"));
  REQUIRE(stat);
  CHECK(stat->pid == 401);
  CHECK(stat->comm == "java ) (x");
  CHECK(stat->state == 'R');
  CHECK(stat->ppid == 1);
  CHECK(stat->num_threads == 37);
  CHECK(stat->nice == 0);
  CHECK(stat->start_ticks == 4010);
  CHECK(stat->policy == 0);  // SCHED_OTHER
  CHECK_FALSE(parse_pid_stat("12 (truncated) S 1"));
  // A line that stops after num_threads still parses; the later fields are absent, not zero.
  auto short_line = parse_pid_stat("7 (sh) S 1 7 7 0 -1 0 0 0 0 0 0 0 0 0 20 5 1");
  REQUIRE(short_line);
  CHECK(short_line->nice == 5);
  CHECK_FALSE(short_line->start_ticks);
  CHECK_FALSE(short_line->policy);
}

TEST_CASE("tasks count processes by state with zombies and their parents", "[snapshot]") {
  auto processes = read_processes(kModern);
  REQUIRE(processes.size() == 8);
  auto tasks = task_summary(processes, 4194304);
  CHECK(tasks["R"] == 1);
  CHECK(tasks["S"] == 2);
  CHECK(tasks["D"] == 1);
  CHECK(tasks["Z"] == 2);
  CHECK(tasks["T"] == 1);
  CHECK(tasks["I"] == 1);
  CHECK(tasks["total"] == 8);
  CHECK(tasks["threads"] == 47);
  CHECK(tasks["pid_max"] == 4194304);
  REQUIRE(tasks["zombies"].size() == 2);
  CHECK(tasks["zombies"][0] == json{{"pid", 402}, {"comm", "defunct-child"}, {"ppid", 300}, {"parent_comm", "postgres"}});
  CHECK(tasks["zombies"][1]["parent_comm"].is_null());  // parent 9999 is not in the table
}

TEST_CASE("deleted open files are found once per process, memfd excepted", "[snapshot]") {
  SkipLog skipped;
  auto files = scan_deleted_open_files(kModern, read_processes(kModern), kMaxFdsScanned, skipped);
  REQUIRE(files.size() == 2);
  std::set<std::pair<int, std::string>> found;
  for (const auto &file : files) {
    found.insert({file["pid"].get<int>(), file["path"].get<std::string>()});
    CHECK(file["size_kb"].is_null());  // fixture links point nowhere, so there is no size
  }
  CHECK(found == std::set<std::pair<int, std::string>>{{300, "/var/log/postgres/old.log"}, {401, "/tmp/hs_err"}});
  CHECK(skipped.entries().empty());
}

TEST_CASE("the deleted open file scan stops at its cap and says so", "[snapshot]") {
  SkipLog skipped;
  auto files = scan_deleted_open_files(kModern, read_processes(kModern), 3, skipped);
  CHECK(files.size() <= 1);
  REQUIRE(skipped.entries().size() == 1);
  CHECK(skipped.entries()[0].first == "deleted_open_files");
  CHECK(skipped.entries()[0].second.find("stopped after 3") != std::string::npos);
}

// ---- sockets --------------------------------------------------------------------------------

TEST_CASE("/proc/net/tcp and tcp6 parse addresses, ports, states and accept queues", "[snapshot]") {
  auto v4 = parse_proc_net_tcp(fixture(kModern, "net/tcp"));
  REQUIRE(v4.size() == 5);
  CHECK(v4[0].laddr == "0.0.0.0");
  CHECK(v4[0].lport == 8080);
  CHECK(v4[0].state == 10);
  CHECK(v4[0].rqueue == 5);
  CHECK_FALSE(v4[0].wqueue);
  CHECK(v4[1].laddr == "127.0.0.1");
  CHECK(v4[1].lport == 3306);
  CHECK(v4[2].laddr == "192.168.1.2");
  CHECK(v4[2].raddr == "192.168.1.100");
  CHECK(v4[2].rport == 54321);
  CHECK(std::string(tcp_state_name(v4[3].state)) == "TIME_WAIT");

  auto v6 = parse_proc_net_tcp(fixture(kModern, "net/tcp6"));
  REQUIRE(v6.size() == 2);
  CHECK(v6[0].laddr == "::");
  CHECK(v6[0].lport == 22);
  CHECK(v6[0].rqueue == 2);
  CHECK(v6[1].laddr == "::1");
  CHECK(v6[1].rport == 50000);
}

TEST_CASE("socket summary counts states, groups by service port and lists listeners", "[snapshot]") {
  auto sockets = parse_proc_net_tcp(fixture(kModern, "net/tcp"));
  for (int ephemeral : {40001, 40002, 40003}) {
    DiagSocket client;
    client.state = 6;  // TIME_WAIT of connections this host made to port 443
    client.lport = static_cast<uint16_t>(ephemeral);
    client.rport = 443;
    sockets.push_back(client);
  }
  auto summary = socket_summary(sockets, 4026531840u, SocketSource::proc_net_tcp);
  CHECK(summary["states"]["ESTABLISHED"] == 2);
  CHECK(summary["states"]["LISTEN"] == 2);
  CHECK(summary["states"]["TIME_WAIT"] == 4);
  CHECK(summary["states"]["CLOSE_WAIT"] == 0);  // every state is present, zero or not
  CHECK(summary["by_port"][0] == json{{"port", 443}, {"state", "TIME_WAIT"}, {"count", 3}});
  bool server_time_wait = false;  // the TIME_WAIT on listening port 8080 groups under 8080
  for (const auto &group : summary["by_port"])
    server_time_wait |= group["port"] == 8080 && group["state"] == "TIME_WAIT" && group["count"] == 1;
  CHECK(server_time_wait);
  REQUIRE(summary["listeners"].size() == 2);
  CHECK(summary["listeners"][0] ==
        json{{"addr", "0.0.0.0"}, {"port", 8080}, {"backlog", 5}, {"backlog_max", nullptr}, {"netns", 4026531840u}});
}

// ---- kernel log -----------------------------------------------------------------------------

TEST_CASE("kmsg keeps OOM kill, SYN flood and hung task records", "[snapshot]") {
  std::string reason;
  auto lines = read_kmsg(kModern + "/kmsg", &reason);
  REQUIRE(lines);
  REQUIRE(lines->size() == 5);
  CHECK((*lines)[0]["time"].get<double>() == Approx(5123.456789));
  CHECK((*lines)[0]["level"] == 4);
  CHECK((*lines)[0]["text"].get<std::string>().find("SYN flooding on port 0.0.0.0:8080") != std::string::npos);
  CHECK((*lines)[2]["level"] == 3);
  CHECK((*lines)[2]["text"].get<std::string>().starts_with("Out of memory: Killed process 4242 (java)"));
  CHECK((*lines)[4]["text"] == "INFO: task jbd2/sda1-8:312 blocked for more than 120 seconds.");

  CHECK_FALSE(interesting_kmsg_record(" SUBSYSTEM=memory oom-kill"));  // continuation line
  CHECK_FALSE(interesting_kmsg_record("6,1,2,-;eth0: Link is Up"));
}

TEST_CASE("kmsg keeps only the last 200 matching records", "[snapshot]") {
  char path[] = "/tmp/triage_kmsg_XXXXXX";
  int fd = mkstemp(path);
  REQUIRE(fd >= 0);
  {
    std::ofstream out(path);
    for (int i = 0; i < 300; ++i) out << "3," << i << "," << i * 1000000 << ",-;Killed process " << i << "\n";
  }
  std::string reason;
  auto lines = read_kmsg(path, &reason);
  ::close(fd);
  ::unlink(path);
  REQUIRE(lines);
  REQUIRE(lines->size() == kMaxKmsgLines);
  CHECK(lines->front()["text"] == "Killed process 100");
  CHECK(lines->back()["text"] == "Killed process 299");
}

// ---- whole snapshot on fixtures -------------------------------------------------------------

TEST_CASE("snapshot of a fixture proc root fills every part it can", "[snapshot]") {
  auto snapshot = take_snapshot(fixture_options(kModern));
  require_all_top_level_keys(snapshot);
  CHECK(snapshot["ncpu"] == 2);
  CHECK(snapshot["procs_running"] == 3);
  CHECK(snapshot["procs_blocked"] == 1);
  CHECK(snapshot["uptime_s"].get<double>() == Approx(3605.25));
  CHECK(snapshot["loadavg"] == json{0.52, 0.40, 0.31});
  CHECK(snapshot["mem"]["swap_in_per_s"].get<double>() == Approx(2.0));    // 7200 pages over 3605 s since boot
  CHECK(snapshot["mem"]["swap_out_per_s"].get<double>() == Approx(10.0));  // 36050 pages
  CHECK(snapshot["tasks"]["D"] == 1);
  CHECK(snapshot["netstat"]["TcpRetransSegs"] == 1534);
  CHECK(snapshot["kmsg"].size() == 5);
  CHECK(snapshot["deleted_open_files"].size() == 2);
  CHECK(snapshot["sockets"].is_null());
  CHECK(skipped_parts(snapshot).count("sockets") == 1);  // disabled by options
  CHECK_NOTHROW(snapshot.dump());
}

TEST_CASE("missing files become skipped entries, not failures", "[snapshot]") {
  auto options = fixture_options(kLegacy);  // no net/, mounts, pids, pid_max or kmsg
  json snapshot;
  REQUIRE_NOTHROW(snapshot = take_snapshot(options));
  require_all_top_level_keys(snapshot);
  auto parts = skipped_parts(snapshot);
  for (const char *part : {"netstat", "filesystems", "tasks", "kmsg"}) {
    INFO(part);
    CHECK(parts.count(part) == 1);
  }
  CHECK(snapshot["ncpu"] == 2);
  CHECK(snapshot["cpus"][0]["steal"].get<double>() == Approx(0.0));
  CHECK(snapshot["mem"]["available_kb"].is_null());
  CHECK(snapshot["tasks"].is_null());
  CHECK(snapshot["netstat"].is_null());

  auto nothing = take_snapshot(fixture_options("/nonexistent/proc"));
  require_all_top_level_keys(nothing);
  CHECK(nothing["loadavg"].is_null());
  CHECK(nothing["cpus"].empty());
  CHECK(skipped_parts(nothing).count("loadavg") == 1);
  CHECK_NOTHROW(render_snapshot_text(nothing));
}

// ---- terminal safety ------------------------------------------------------------------------

TEST_CASE("terminal_safe neutralises escape sequences, control bytes and invalid UTF-8", "[snapshot]") {
  CHECK(terminal_safe("\x1b[31mred\x1b[0m") == "\\x1b[31mred\\x1b[0m");
  CHECK(terminal_safe("\x1b]0;title\x07") == "\\x1b]0;title\\x07");
  CHECK(terminal_safe("line\nnext\r\ttab") == "line\\x0anext\\x0d\\x09tab");
  CHECK(terminal_safe("del\x7f") == "del\\x7f");
  CHECK(terminal_safe("\xff\xfe") == "\\xff\\xfe");
  CHECK(terminal_safe("cut \xe2\x82") == "cut \\xe2\\x82");          // truncated sequence
  CHECK(terminal_safe("\xc0\xaf") == "\\xc0\\xaf");                  // overlong '/'
  CHECK(terminal_safe("\xed\xa0\x80") == "\\xed\\xa0\\x80");         // UTF-16 surrogate
  CHECK(terminal_safe("csi\xc2\x9b" "31m") == "csi\\xc2\\x9b31m");   // 8-bit CSI (C1)
  CHECK(terminal_safe("abc\u202etxt.exe") == "abc?txt.exe");         // right-to-left override
  CHECK(terminal_safe("h\u00e9llo \u2713 \U0001F600") == "h\u00e9llo \u2713 \U0001F600");
  CHECK(terminal_safe("") == "");
}

TEST_CASE("machine strings are valid UTF-8 in the JSON", "[snapshot]") {
  CHECK(valid_utf8("ok\xff") == "ok\\xff");
  CHECK(valid_utf8("\x1b[1m") == "\x1b[1m");  // control characters are JSON-escaped, not lost
  json value = valid_utf8("comm\xc3");
  CHECK_NOTHROW(value.dump());
}

TEST_CASE("render makes machine strings terminal-safe and tolerates missing parts", "[snapshot]") {
  auto snapshot = take_snapshot(fixture_options(kModern));
  snapshot["tasks"]["zombies"][0]["comm"] = "\x1b]0;pwned\x07";
  snapshot["kmsg"].push_back({{"time", 1.5}, {"level", 3}, {"text", "evil\x1b[2J"}});
  auto text = render_snapshot_text(snapshot);
  CHECK(text.find('\x1b') == std::string::npos);
  CHECK(text.find('\x07') == std::string::npos);
  CHECK(text.find("\\x1b]0;pwned\\x07") != std::string::npos);
  for (const char *heading : {"uptime", "CPU %", "free -m", "tasks", "netstat -s", "dmesg"}) {
    INFO(heading);
    CHECK(text.find(heading) != std::string::npos);
  }
  CHECK(text.find("Possible SYN flooding") != std::string::npos);
  CHECK(text.find("zombie 402") != std::string::npos);

  CHECK_NOTHROW(render_snapshot_text(json::object()));
  CHECK_NOTHROW(render_snapshot_text(json::array({1, 2})));
  CHECK_NOTHROW(render_snapshot_text(json{{"loadavg", "high"}, {"cpus", 3}, {"mem", {{"total_kb", "x"}}}}));
}

// ---- the live machine -----------------------------------------------------------------------

TEST_CASE("live snapshot has every part and sane values", "[snapshot][live]") {
  auto snapshot = take_snapshot();
  require_all_top_level_keys(snapshot);
  CHECK(snapshot["ncpu"] == sysconf(_SC_NPROCESSORS_ONLN));
  CHECK(snapshot["cpus"].size() == snapshot["ncpu"].get<size_t>());
  REQUIRE(snapshot["loadavg"].is_array());
  CHECK(snapshot["loadavg"].size() == 3);
  CHECK(snapshot["uptime_s"].get<double>() > 0);
  CHECK(snapshot["time_ns"].get<int64_t>() > 1'600'000'000LL * 1'000'000'000LL);
  CHECK(snapshot["mem"]["total_kb"].get<int64_t>() > 0);
  CHECK(snapshot["tasks"]["total"].get<int64_t>() > 1);
  REQUIRE(snapshot["sockets"].is_object());
  CHECK(snapshot["sockets"]["states"].is_object());
  CHECK(snapshot["sockets"]["states"].contains("ESTABLISHED"));
  CHECK(snapshot["netstat"].contains("TcpRetransSegs"));
  for (const auto &cpu : snapshot["cpus"]) {
    double sum = cpu["user"].get<double>() + cpu["system"].get<double>() + cpu["iowait"].get<double>() +
                 cpu["idle"].get<double>() + cpu["steal"].get<double>();
    CHECK((sum == Approx(100.0).margin(0.5) || sum == 0.0));
  }
  CHECK_NOTHROW(snapshot.dump());
  CHECK_FALSE(render_snapshot_text(snapshot).empty());
}

TEST_CASE("live snapshot takes under a second", "[snapshot][live]") {
  auto start = std::chrono::steady_clock::now();
  auto snapshot = take_snapshot();
  auto elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  INFO("took " << elapsed << " s");
  CHECK(elapsed < 1.0);
}

TEST_CASE("live listeners show accept queue maximum and network namespace", "[snapshot][live]") {
  int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  REQUIRE(listener >= 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  REQUIRE(::bind(listener, reinterpret_cast<sockaddr *>(&address), sizeof address) == 0);
  REQUIRE(::listen(listener, 7) == 0);
  REQUIRE(::getsockname(listener, reinterpret_cast<sockaddr *>(&address), &length) == 0);
  uint16_t port = ntohs(address.sin_port);

  SnapshotOptions options;
  options.cpu_sample_ms = 0;
  auto snapshot = take_snapshot(options);
  ::close(listener);

  struct stat netns {};
  REQUIRE(::stat("/proc/self/ns/net", &netns) == 0);
  json ours;
  for (const auto &entry : snapshot["sockets"]["listeners"])
    if (entry["port"] == port) ours = entry;
  INFO(snapshot["skipped"].dump());
  REQUIRE(ours.is_object());
  CHECK(ours["addr"] == "127.0.0.1");
  CHECK(ours["backlog"] == 0);
  CHECK(ours["backlog_max"] == 7);
  CHECK(ours["netns"] == netns.st_ino);
}

TEST_CASE("live scan finds a deleted file this process holds open", "[snapshot][live]") {
  char path[] = "/tmp/triage_deleted_XXXXXX";
  int fd = mkstemp(path);
  REQUIRE(fd >= 0);
  std::string data(3000, 'x');
  REQUIRE(::write(fd, data.data(), data.size()) == static_cast<ssize_t>(data.size()));
  REQUIRE(::unlink(path) == 0);

  ProcessStat self;
  self.pid = getpid();
  self.comm = "snapshot_test";
  SkipLog skipped;
  auto files = scan_deleted_open_files("/proc", {self}, kMaxFdsScanned, skipped);
  ::close(fd);

  json ours;
  for (const auto &file : files)
    if (file["path"] == path) ours = file;
  REQUIRE(ours.is_object());
  CHECK(ours["pid"] == getpid());
  CHECK(ours["size_kb"] == 3);
}

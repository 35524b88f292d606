// Live: a server that stops serving for 3 s at a time while staying alive. Its worker threads
// accept a connection, then take a lock every request needs before reading it; another thread
// holds that lock for 3 s (a stop-the-world pause, as a JVM's full GC is, made fast to run).
// Clients send a request every 100 ms with a 1 s read timeout. The report must hold a
// server-stall finding for the listener with its spans (each >= 1 s), the clients' read timeouts
// listed under it, and no server-saturated finding (the process burned no CPU).
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <poll.h>
#include <sys/wait.h>

#include <atomic>
#include <fcntl.h>
#include <signal.h>

#include <cstdio>
#include <mutex>
#include <thread>
#include <vector>

#include "live_support.h"
#include "tcp_live.h"

namespace {

constexpr uint16_t kPort = 9410;
constexpr int kWorkers = 4;

[[noreturn]] void serve_with_pauses() {
  int lfd = tcplive::listen_on("127.0.0.1", kPort, 64);
  std::mutex world;
  std::vector<std::thread> threads;
  for (int i = 0; i < kWorkers; i++)
    threads.emplace_back([&] {
      for (;;) {
        int fd = ::accept(lfd, nullptr, nullptr);
        if (fd < 0) continue;
        std::lock_guard<std::mutex> held(world);  // every request needs the world
        char buf[512];
        if (::read(fd, buf, sizeof buf) > 0) {
          const char answer[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";
          ::write(fd, answer, sizeof answer - 1);
        }
        ::close(fd);
      }
    });
  live::sleep_s(1.0);
  for (;;) {
    {
      std::lock_guard<std::mutex> held(world);
      live::sleep_s(3.0);  // the pause
    }
    live::sleep_s(2.0);
  }
}

// One request every 100 ms, each on its own connection, giving up after 1 s.
[[noreturn]] void clients(uint16_t port) {
  std::vector<std::thread> threads;
  for (int c = 0; c < 4; c++)
    threads.emplace_back([port] {
      for (;;) {
        sockaddr_in sa = tcplive::ipv4("127.0.0.1", port);
        int fd = ::socket(AF_INET, SOCK_STREAM, 0);
        if (::connect(fd, reinterpret_cast<sockaddr *>(&sa), sizeof sa) == 0) {
          const char request[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
          ::write(fd, request, sizeof request - 1);
          pollfd p{fd, POLLIN, 0};
          if (::poll(&p, 1, 1000) > 0) {
            char buf[512];
            ::read(fd, buf, sizeof buf);
          }
        }
        ::close(fd);
        live::sleep_s(0.4);
      }
    });
  for (;;) ::pause();
}

}  // namespace

// The JVM first: the lock-stall case may skip (see there), and a skip ends the run.
namespace {

constexpr uint16_t kJvmPort = 9411;

bool answers(uint16_t port, double timeout_s) {
  for (double waited = 0; waited < timeout_s; waited += 0.2) {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in sa = tcplive::ipv4("127.0.0.1", port);
    bool ok = ::connect(fd, reinterpret_cast<sockaddr *>(&sa), sizeof sa) == 0;
    ::close(fd);
    if (ok) return true;
    live::sleep_s(0.2);
  }
  return false;
}

}  // namespace

TEST_CASE("server-stall: a JVM stopped by full collections is named, with its spans") {
  live::require_tool("java");
  live::TempDir dir;
  pid_t jvm = ::fork();
  if (jvm == 0) {
    int fd = ::open(dir.file("jvm.log").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd >= 0) ::dup2(fd, 1), ::dup2(fd, 2);
    // 35 million small linked objects: a serial full collection of them takes 2 s or more, what
    // samples 1 s apart need to see a whole interval without progress (20 million gave 0.6-2 s).
    ::execlp("java", "java", "-Xms3g", "-Xmx3g", "-XX:+UseSerialGC", TRIAGE_LIVE_WORKLOADS_DIR "/GcPauseServer.java",
             std::to_string(kJvmPort).c_str(), "35", static_cast<char *>(nullptr));
    ::_exit(127);
  }
  struct Reap {
    pid_t pid;
    ~Reap() {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
    }
  } reap{jvm};
  if (!answers(kJvmPort, 30)) live::skip("the JVM did not start listening: " + live::sh("cat " + dir.file("jvm.log")).out);
  std::string db = dir.file("jvm.db");
  live::Recording rec(db, {"-d", "10", "--probes", "tcp,sched"});
  REQUIRE(rec.wait_attached());
  live::Child client("jvm-client", [] { clients(kJvmPort); });
  REQUIRE(rec.wait() == 0);
  client.kill_and_reap();
  std::printf("JVM log:\n%s\n", live::sh("cat " + dir.file("jvm.log")).out.c_str());

  auto report = live::report_json(db);
  INFO(report["tcp"]["servers"].dump());
  INFO(report["findings"].dump(2));
  const nlohmann::json *stall = tcplive::find_finding(report, "server-stall");
  REQUIRE(stall != nullptr);
  const auto &e = stall->at("evidence");
  std::printf("server-stall: %s\n  spans %s\n", stall->at("title").get<std::string>().c_str(), e["spans"].dump().c_str());
  CHECK(e["process"] == "java");
  CHECK(e["port"] == kJvmPort);
  for (const auto &span : e["spans"]) CHECK(span["duration_s"].get<double>() >= 0.95);
  const nlohmann::json *timeouts = tcplive::find_finding(report, "read-timeout");
  if (timeouts) CHECK(timeouts->value("explained_by", "") == "server-stall");
}

TEST_CASE("server-stall: a server that stops for 3 s while alive is named, with its spans") {
  live::require_tool("ip");
  tcplive::NetNs ns("triage-stall");
  live::TempDir dir;
  std::string db = dir.file("stall.db");
  live::Child server("stall-server", [&] {
    ns.enter();
    serve_with_pauses();
  });
  live::sleep_s(0.3);
  live::Recording rec(db, {"-d", "9", "--probes", "tcp,sched"});
  REQUIRE(rec.wait_attached());
  live::Child client("stall-client", [&] {
    ns.enter();
    clients(kPort);
  });
  REQUIRE(rec.wait() == 0);
  client.kill_and_reap();
  server.kill_and_reap();

  auto report = live::report_json(db);
  INFO(report["tcp"]["servers"].dump());
  INFO(report["findings"].dump(2));
  const nlohmann::json *stall = tcplive::find_finding(report, "server-stall");
  // A stall is judged between two connection walks a sample apart. While a listener is under
  // pressure the walks may take 2 % of a CPU; a triage slower still (a sanitized build on a loaded
  // host) can thin them further, and then no two walks bracket the pause. Said, never passed
  // silently: the skip needs the report to show that no two walks of the pressure came close.
  if (!stall) {
    double interval = report["tcp"]["connection_walks"].value("interval_s", 1.0);
    int close_walks = 0;
    for (const auto &server : report["tcp"]["servers"])
      if (server.value("port", 0) == kPort)
        for (const auto &s : server["samples"])
          if (s.value("compared", false) && s.value("t", 0.0) - s.value("since_t", 0.0) <= 1.5 * interval) close_walks++;
    if (close_walks == 0)
      live::skip("while the listener was under pressure no two connection walks came a sample apart (their CPU "
                 "budget on this slow triage): none bracketed the 3 s pause");
  }
  REQUIRE(stall != nullptr);
  const auto &e = stall->at("evidence");
  std::printf("server-stall: %s\n  spans %s\n", stall->at("title").get<std::string>().c_str(), e["spans"].dump().c_str());
  CHECK(e["port"] == kPort);
  CHECK(e["process"] == "stall-server");
  REQUIRE(e["spans"].size() >= 1);
  for (const auto &span : e["spans"]) {
    CHECK(span["duration_s"].get<double>() >= 0.95);
    CHECK(span["duration_s"].get<double>() <= 4.1);  // the pause is 3 s; samples are 1 s apart
  }
  CHECK(e["client_read_timeouts"].get<int>() >= 1);
  CHECK(tcplive::find_finding(report, "server-saturated") == nullptr);
  // The clients' timeouts are its symptoms: listed under it, not as a verdict of their own.
  const nlohmann::json *timeouts = tcplive::find_finding(report, "read-timeout");
  if (timeouts) CHECK(timeouts->value("explained_by", "") == "server-stall");
  CHECK(tcplive::find_finding(report, "syn-flood") == nullptr);
}

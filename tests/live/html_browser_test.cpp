// The HTML postmortem as a person uses it: record a real window, render it with
// `triage report --format html`, open it in headless Chromium, and check that it drew (a
// screenshot with content, SVG marks in the rendered DOM), that nothing tried to run or load
// (no console error, no CSP refusal), and that a process name holding markup stayed text.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>

#include "test_binary.h"
#include "live_support.h"

namespace {

constexpr const char *kChromium = "/usr/bin/chromium";
// Markup as a process name (comm holds 15 bytes): it must reach the page as text.
constexpr const char *kMarkupComm = "<i>spin</i>";

std::vector<std::string> chromium_args(const std::string &profile_dir) {
  // Root needs --no-sandbox; the rest keeps a headless run from reaching the network or
  // spending time on first-run work.
  return {"timeout",
          "120",
          kChromium,
          "--headless",
          "--no-sandbox",
          "--disable-gpu",
          "--disable-quic",
          "--no-first-run",
          "--disable-background-networking",
          "--disable-component-update",
          "--disable-sync",
          "--hide-scrollbars",
          "--user-data-dir=" + profile_dir};
}

std::string read_file(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

size_t count(const std::string &haystack, const std::string &needle) {
  size_t n = 0;
  for (size_t pos = haystack.find(needle); pos != std::string::npos; pos = haystack.find(needle, pos + needle.size())) n++;
  return n;
}

// Drawn marks (rect, path, polyline) inside the <svg> with that id in the rendered DOM; -1 if absent.
long svg_marks(const std::string &dom, const std::string &id) {
  size_t at = dom.find("id=\"" + id + "\"");
  if (at == std::string::npos) return -1;
  size_t begin = dom.rfind("<svg", at), end = dom.find("</svg>", at);
  if (begin == std::string::npos || end == std::string::npos) return -1;
  std::string svg = dom.substr(begin, end - begin);
  return static_cast<long>(count(svg, "<rect") + count(svg, "<path") + count(svg, "<polyline"));
}

uint32_t be32(const std::string &bytes, size_t at) {
  return (uint32_t(uint8_t(bytes[at])) << 24) | (uint32_t(uint8_t(bytes[at + 1])) << 16) |
         (uint32_t(uint8_t(bytes[at + 2])) << 8) | uint32_t(uint8_t(bytes[at + 3]));
}

}  // namespace

TEST_CASE("html: a recorded window renders in a browser, charts drawn, no script error") {
  if (::access(kChromium, X_OK) != 0)
    live::skip("/usr/bin/chromium is missing (Debian package chromium; tools/deps --test installs it)");
  live::TempDir dir;
  std::string db = dir.file("window.db"), page = dir.file("window.html"), png = dir.file("window.png");

  live::Recording rec(db, {"-d", "3"});
  REQUIRE(rec.wait_attached());
  {
    // More runnable tasks than CPUs, so the load chart, the run-queue charts and the top table fill.
    long ncpu = std::max(1L, ::sysconf(_SC_NPROCESSORS_ONLN));
    std::vector<std::unique_ptr<live::Child>> spinners;
    for (long i = 0; i <= ncpu; i++)
      spinners.push_back(std::make_unique<live::Child>(kMarkupComm, [] { live::spin_forever(); }));
    REQUIRE(rec.wait() == 0);
  }

  auto rendered = live::run({triage_test_binary(), "report", db, "--format", "html", "-o", page});
  INFO("triage report stderr: " << rendered.err);
  REQUIRE(rendered.exit_code == 0);
  std::string html = read_file(page);
  REQUIRE(html.find("</html>") != std::string::npos);
  CHECK(html.find("&lt;i&gt;spin&lt;/i&gt;") != std::string::npos);

  std::string url = "file://" + page;
  // 1. A screenshot, as someone opening the attachment would see it.
  auto shot_args = chromium_args(dir.file("profile-shot"));
  shot_args.insert(shot_args.end(), {"--screenshot=" + png, "--window-size=1400,3000", url});
  auto shot = live::run(shot_args);
  INFO("chromium --screenshot stderr: " << shot.err);
  REQUIRE(shot.exit_code == 0);
  REQUIRE(std::filesystem::exists(png));
  std::string image = read_file(png);
  REQUIRE(image.size() > 24);
  CHECK(image.compare(0, 8, "\x89PNG\r\n\x1a\n", 8) == 0);
  CHECK(be32(image, 16) == 1400);
  CHECK(be32(image, 20) == 3000);
  // A blank 1400x3000 page compresses to a few KB; text, tables and charts take far more.
  CHECK(image.size() > 50'000);

  // 2. The DOM after layout, with the console on stderr.
  auto dom_args = chromium_args(dir.file("profile-dom"));
  dom_args.insert(dom_args.end(), {"--enable-logging=stderr", "--v=0", "--dump-dom", url});
  auto dump = live::run(dom_args);
  INFO("chromium --dump-dom stderr: " << dump.err);
  REQUIRE(dump.exit_code == 0);
  const std::string &dom = dump.out;
  REQUIRE(dom.find("</html>") != std::string::npos);
  // Chromium logs page console output as "INFO:CONSOLE:<line>] ..." (older: "CONSOLE(<line>)"). The
  // page has no script, so any console line is a failure: a script error, or the page's
  // Content-Security-Policy blocking a load or an inline handler that an escape let through.
  CHECK(dump.err.find("Uncaught") == std::string::npos);
  CHECK(dump.err.find("CONSOLE") == std::string::npos);
  CHECK(dump.err.find("Content Security Policy") == std::string::npos);
  CHECK(count(dom, "<script") == 0);
  CHECK(dom.find("<i>spin</i>") == std::string::npos);  // parsed as text, not as an element
  CHECK(dom.find("&lt;i&gt;spin&lt;/i&gt;") != std::string::npos);

  for (const char *id : {"chart-load", "chart-runq-latency", "chart-runq-heatmap"}) {
    INFO("chart " << id);
    CHECK(svg_marks(dom, id) > 0);
  }
  // The recorded window: sched is there, so its section is not "not recorded".
  CHECK(dom.find("not recorded: the sched probes") == std::string::npos);
}

// The two escapers every name from the traced machine goes through: printable() for the terminal
// and html_escape() for the page. Invalid UTF-8 of every kind (stray continuation bytes,
// truncated, overlong, surrogates, beyond U+10FFFF) must come out escaped, so the output is valid
// UTF-8 with no byte that acts on a terminal and no markup.
#include <catch2/catch.hpp>

#include <random>

#include <nlohmann/json.hpp>

#include "input_support.h"
#include "report/html.h"
#include "report/text_util.h"

using namespace triage;

namespace {

const std::vector<std::string> kHostile = {
    "\x1b[2J\x1b[H",                    // clear the screen
    "\x1b]0;title\x07",                  // set the window title (OSC)
    "\x1b]8;;http://evil\x1b\\link",     // a hyperlink
    "a\nb\rc\td\x7f\x08",                // newlines, carriage return, DEL, backspace
    "\xc2\x9b" "31m",                    // C1 CSI as UTF-8
    "\x9b" "31m",                        // C1 CSI as a raw byte
    "\xc0\x80\xc1\xbf",                  // overlong encodings
    "\xed\xa0\x80",                      // a UTF-16 surrogate
    "\xf4\x90\x80\x80",                  // beyond U+10FFFF
    "\xe2\x82",                          // truncated
    "\x80\xbf",                          // stray continuation bytes
    "\xe2\x80\xae" "txt.exe",            // right-to-left override
    "<script>alert(1)</script>",
    "\"'><img src=x onerror=alert(1)>",
    "'; DROP TABLE meta;--",
    std::string("nul\0byte", 8),
};

bool valid_utf8(const std::string &s) { return nlohmann::json::accept(nlohmann::json(s).dump(-1, ' ', false, nlohmann::json::error_handler_t::strict)); }

}  // namespace

TEST_CASE("escape faults: printable() leaves nothing that acts on a terminal") {
  for (const auto &raw : kHostile) {
    std::string out = printable(raw);
    INFO(nlohmann::json(raw).dump(-1, ' ', true, nlohmann::json::error_handler_t::replace) << " -> " << out);
    CHECK(faults::first_terminal_control(out) == std::string::npos);
    CHECK(out.find('\x1b') == std::string::npos);
    CHECK(out.find('\0') == std::string::npos);
    CHECK_NOTHROW(valid_utf8(out));
    CHECK(out.find("\xe2\x80\xae") == std::string::npos);
  }
  CHECK(printable("caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac") == "caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac");  // kept
  CHECK(printable("\xc0\x80") == "\\xc0\\x80");
}

TEST_CASE("escape faults: html_escape() shows markup as text and is valid UTF-8") {
  for (const auto &raw : kHostile) {
    std::string out = html_escape(raw);
    INFO(out);
    for (char c : {'<', '>', '"', '\'', '\x1b', '\0'}) CHECK(out.find(c) == std::string::npos);
    CHECK(faults::first_terminal_control(out) == std::string::npos);
    CHECK_NOTHROW(valid_utf8(out));
  }
  CHECK(html_escape("<script>") == "&lt;script&gt;");
}

TEST_CASE("escape faults: random bytes through both escapers") {
  std::mt19937 rng(11);
  for (int round = 0; round < 2000; round++) {
    std::string raw(rng() % 64, '\0');
    for (auto &c : raw) c = static_cast<char>(rng());
    std::string text = printable(raw), html = html_escape(raw);
    CHECK(faults::first_terminal_control(text) == std::string::npos);
    CHECK(faults::first_terminal_control(html) == std::string::npos);
    CHECK(html.find('<') == std::string::npos);
    CHECK_NOTHROW(valid_utf8(text));
    CHECK_NOTHROW(valid_utf8(html));
  }
}

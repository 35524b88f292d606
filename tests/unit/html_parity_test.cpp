// The HTML page shows what the report holds (issue #27): each part of a family's section names the
// JSON keys it shows (html::keyed, as data-key="..."), and every key of a family's JSON section
// whose value is a non-empty array or an object must be named inside that family's <section>,
// unless kNotOnThePage says why the page leaves it out. On every_family.db, where every family was
// busy, so a part the page forgot fails here rather than in a reader's browser.
#include <catch2/catch.hpp>

#include <cctype>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "families.h"
#include "record/recording.h"
#include "report/html.h"
#include "report/report.h"

using namespace triage;
using nlohmann::json;

namespace {

struct Exclusion {
  const char *family, *key, *why;
};

// The only keys a family's section may hold and its HTML not show, each with the reason.
const Exclusion kNotOnThePage[] = {
    {"sched", "top_cpu_series",
     "each interval's top CPU users, read by the findings and JSON readers; the page shows the window's top_cpu, as "
     "the text does"},
    {"tcp", "spans",
     "when each tcp finding held: the page shows it with the finding (its times, and its band on the load chart)"},
};

bool excluded(const std::string &family, const std::string &key) {
  for (const auto &e : kNotOnThePage)
    if (family == e.family && key == e.key) return true;
  return false;
}

std::string section_of(const std::string &html, const std::string &family) {
  const size_t begin = html.find("<section id=\"" + family + "\">");
  if (begin == std::string::npos) return "";
  const size_t end = html.find("</section>", begin);
  return end == std::string::npos ? "" : html.substr(begin, end - begin);
}

// Every key named by a data-key="a b" attribute.
std::set<std::string> data_keys(const std::string &html) {
  std::set<std::string> keys;
  const std::string attr = "data-key=\"";
  for (size_t at = html.find(attr); at != std::string::npos; at = html.find(attr, at + 1)) {
    const size_t from = at + attr.size(), to = html.find('"', from);
    std::istringstream names(html.substr(from, to - from));
    for (std::string name; names >> name;) keys.insert(name);
  }
  return keys;
}

bool shown_by_value(const json &value) { return (value.is_array() && !value.empty()) || value.is_object(); }

// The elements a section nests, each closed in order: the first one left open or closed out of
// order, or "" when all are balanced. SVG marks and void elements are not checked.
std::string unbalanced(const std::string &html) {
  static const std::set<std::string> checked = {"section", "div", "table", "thead", "tbody", "tr",  "td", "th",
                                                "details", "summary", "ul", "li", "p", "h2", "h3", "svg"};
  std::vector<std::string> open;
  for (size_t at = html.find('<'); at != std::string::npos; at = html.find('<', at + 1)) {
    const bool closing = html.compare(at + 1, 1, "/") == 0;
    size_t from = at + (closing ? 2 : 1), to = from;
    while (to < html.size() && (std::isalnum(static_cast<unsigned char>(html[to])) || html[to] == '-')) to++;
    const std::string name = html.substr(from, to - from);
    if (!checked.count(name)) continue;
    if (!closing) open.push_back(name);
    else if (open.empty() || open.back() != name)
      return "</" + name + "> closes <" + (open.empty() ? "nothing" : open.back()) + "> at " + std::to_string(at);
    else
      open.pop_back();
  }
  return open.empty() ? "" : "<" + open.back() + "> left open";
}

}  // namespace

TEST_CASE("html parity: every key a family's report section holds is shown in its HTML section") {
  auto reader = RecordingReader::open(std::string(TRIAGE_FIXTURES_DIR) + "/recordings/every_family.db");
  REQUIRE(reader.ok());
  const json report = build_report(**reader);
  const std::string html = render_html(report);
  for (const auto &family : all_families()) {
    INFO("family " << family.name);
    const json &section = report[family.name];
    REQUIRE(section.is_object());
    const std::string page = section_of(html, family.name);
    REQUIRE(!page.empty());
    CHECK(unbalanced(page + "</section>").empty());
    const std::set<std::string> shown = data_keys(page);
    for (const auto &[key, value] : section.items()) {
      if (!shown_by_value(value) || excluded(family.name, key)) continue;
      INFO("key " << key << " is in the JSON section but no data-key names it");
      CHECK(shown.count(key) == 1);
    }
    // A part marked with a key the JSON does not have is a typo that would hide a missing part.
    for (const auto &key : shown) {
      INFO("data-key " << key << " names no key of the JSON section");
      CHECK(section.contains(key));
    }
  }
}

TEST_CASE("html parity: every exclusion still names a key that holds something and is not shown") {
  auto reader = RecordingReader::open(std::string(TRIAGE_FIXTURES_DIR) + "/recordings/every_family.db");
  REQUIRE(reader.ok());
  const json report = build_report(**reader);
  const std::string html = render_html(report);
  for (const auto &e : kNotOnThePage) {
    INFO(e.family << "." << e.key << ": " << e.why);
    CHECK(shown_by_value(report[e.family].value(e.key, json())));
    CHECK(data_keys(section_of(html, e.family)).count(e.key) == 0);
  }
}

TEST_CASE("html parity: the whole page nests its elements") {
  auto rendered = report_from_file(std::string(TRIAGE_FIXTURES_DIR) + "/recordings/every_family.db", "html");
  REQUIRE(rendered.ok());
  const std::string &html = *rendered;
  CHECK(unbalanced(html.substr(html.find("<body>"))) == "");
}

TEST_CASE("html parity: the nesting check catches what it is for") {
  CHECK(unbalanced(R"(<div data-key="a"><p>x</p></div>)").empty());
  CHECK(!unbalanced("<div><p>x</div>").empty());
  CHECK(!unbalanced("<section><div></section>").empty());
  CHECK(!unbalanced("<table><tr><td>1</td></tr>").empty());
}

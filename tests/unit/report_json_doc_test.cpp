// docs/report-json.md documents every key of `triage report --format json`. This test builds the
// JSON report from real recordings and fails naming each key path the document does not list, and
// each listed path that no report produced unless the document marks it optional: the document
// cannot drift from the renderer.
//
// The document's format, as parsed here: a key is a table row whose first cell is one path in
// backticks, `sched.load[].runnable` (`[]`: the elements of an array; `*`: an object whose keys
// are data, such as a family or device name). A type cell holding `<name>` in backticks makes the
// value an instance of the type whose rows start with `<name>.` (`<histogram>.p99`). A type cell
// holding the word "optional" marks a path that only some windows produce, with its children.
#include <catch2/catch.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "record/recording.h"
#include "report/report.h"

using namespace triage;

namespace {

const std::string kDocPath = std::string(TRIAGE_DOCS_DIR) + "/report-json.md";

struct DocKey {
  std::string type_ref;  // "<histogram>" when the value is an instance of a documented type
  bool optional = false;
  size_t line = 0;
};

struct Doc {
  std::map<std::string, DocKey> keys;
  std::vector<std::string> errors;  // rows the parser could not read
};

Doc parse_doc(std::istream &in) {
  Doc doc;
  std::string text;
  for (size_t line = 1; std::getline(in, text); line++) {
    if (text.rfind("| `", 0) != 0) continue;
    size_t open = text.find('`'), close = text.find('`', open + 1);
    size_t key_cell_end = text.find('|', 1);
    if (close == std::string::npos || close > key_cell_end) {
      doc.errors.push_back(fmt::format("line {}: a key row whose first cell is not one path in backticks", line));
      continue;
    }
    std::string path = text.substr(open + 1, close - open - 1);
    size_t type_cell_end = text.find('|', key_cell_end + 1);
    std::string type = text.substr(key_cell_end + 1, type_cell_end == std::string::npos ? std::string::npos
                                                                                          : type_cell_end - key_cell_end - 1);
    DocKey key;
    key.line = line;
    key.optional = type.find("optional") != std::string::npos;
    size_t ref = type.find("`<");
    if (ref != std::string::npos) key.type_ref = type.substr(ref + 1, type.find(">`", ref) - ref);
    if (!doc.keys.emplace(path, key).second)
      doc.errors.push_back(fmt::format("line {}: `{}` is listed twice (first at line {})", line, path, doc.keys[path].line));
  }
  return doc;
}

std::string child_of(const std::string &path, const std::string &key) { return path.empty() ? key : path + "." + key; }

// Every key path a report holds, spelled as the document spells them.
class KeyWalk {
 public:
  explicit KeyWalk(const Doc &doc) : doc_(doc) {}

  void walk(const json &value, const std::string &path) {
    if (value.is_object()) {
      for (const auto &[key, child] : value.items()) {
        std::string wildcard = child_of(path, "*");
        std::string child_path = doc_.keys.count(wildcard) ? wildcard : child_of(path, key);
        produced_.insert(child_path);
        auto documented = doc_.keys.find(child_path);
        bool typed = documented != doc_.keys.end() && !documented->second.type_ref.empty();
        walk(child, typed ? documented->second.type_ref : child_path);
      }
    } else if (value.is_array()) {
      for (const auto &element : value) walk(element, path + "[]");
    }
  }
  const std::set<std::string> &produced() const { return produced_; }

 private:
  const Doc &doc_;
  std::set<std::string> produced_;
};

// The path itself or one of its ancestors (`a.b[].c` -> `a.b[]`, `a.b`, `a`) is marked optional.
bool optional_here(const Doc &doc, std::string path) {
  for (;;) {
    auto it = doc.keys.find(path);
    if (it != doc.keys.end() && it->second.optional) return true;
    size_t cut = path.find_last_of(".[");
    if (cut == std::string::npos || cut == 0) return false;
    path.resize(cut);
  }
}

// Empty when the document and the reports agree; else one line per disagreement, saying what to do.
std::string disagreements(const Doc &doc, const std::vector<json> &reports) {
  KeyWalk walk(doc);
  for (const auto &report : reports) walk.walk(report, "");
  std::string out;
  for (const auto &e : doc.errors) out += fmt::format("docs/report-json.md {}\n", e);
  for (const auto &path : walk.produced())
    if (!doc.keys.count(path))
      out += fmt::format("undocumented: the report has `{}`; add a row `| `{}` | type | unit | meaning |` to "
                         "docs/report-json.md\n",
                         path, path);
  for (const auto &[path, key] : doc.keys)
    if (!walk.produced().count(path) && !optional_here(doc, path))
      out += fmt::format("not produced: docs/report-json.md line {} lists `{}`, which no report built here holds; remove "
                         "the row, or mark it optional (type cell) and say when it is present\n",
                         key.line, path);
  return out;
}

Doc doc_of(const std::string &text) {
  std::istringstream in(text);
  return parse_doc(in);
}

json report_of(const std::string &path) {
  auto reader = RecordingReader::open(path);
  REQUIRE(reader.ok());
  return build_report(**reader);
}

}  // namespace

TEST_CASE("report json doc: the checker names undocumented and unproduced keys") {
  Doc doc = doc_of(
      "| key | type | unit | meaning |\n"
      "| --- | --- | --- | --- |\n"
      "| `a` | object | | |\n"
      "| `a.n` | number | s | |\n"
      "| `a.gone` | number | | |\n"
      "| `a.maybe` | number, optional | | |\n"
      "| `m` | object | | |\n"
      "| `m.*` | `<h>` | | |\n"
      "| `<h>.p99` | number | | |\n"
      "| `rows` | array | | |\n"
      "| `rows[].x` | number | | |\n");
  REQUIRE(doc.errors.empty());
  json report = {{"a", {{"n", 1}, {"extra", 2}}},
                 {"m", {{"sda", {{"p99", 1.0}}}, {"sdb", {{"p99", 2.0}, {"p50", 1.0}}}}},
                 {"rows", {{{"x", 1}}, {{"x", 2}, {"y", 3}}}}};
  std::string out = disagreements(doc, {report});
  INFO(out);
  CHECK(out.find("the report has `a.extra`") != std::string::npos);
  CHECK(out.find("the report has `<h>.p50`") != std::string::npos);  // a type's key, found through a wildcard
  CHECK(out.find("the report has `rows[].y`") != std::string::npos);
  CHECK(out.find("lists `a.gone`") != std::string::npos);
  CHECK(out.find("a.maybe") == std::string::npos);  // optional: absent is fine
  CHECK(out.find("m.sda") == std::string::npos);    // map keys are data, not keys to document
  CHECK(std::count(out.begin(), out.end(), '\n') == 4);

  CHECK(disagreements(doc_of("| `a` | object | | |\n| `a` | object | | |\n"), {}).find("listed twice") != std::string::npos);
}

TEST_CASE("report json doc: docs/report-json.md lists exactly the keys the renderer produces") {
  std::ifstream in(kDocPath);
  REQUIRE(in.good());
  Doc doc = parse_doc(in);
  REQUIRE(doc.keys.size() > 100);
  // A window with every family busy (CPU contention, loop-device I/O, TCP trouble of each kind, an
  // OOM kill, a probe switched off), and the fault suite's quiet one.
  std::vector<json> reports = {report_of(std::string(TRIAGE_FIXTURES_DIR) + "/recordings/every_family.db"),
                               report_of(std::string(TRIAGE_FIXTURES_DIR) + "/../faults/data/recorded.db")};
  std::string out = disagreements(doc, reports);
  if (!out.empty()) FAIL_CHECK("docs/report-json.md and the JSON report disagree:\n" << out);
}

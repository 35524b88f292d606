// The checker behind docs/report-json.md: parses the document's key rows and compares them with
// the key paths of built reports. Shared by the unit test (checked-in recordings) and the live test
// (a window recorded by this build's triage, so keys a recorder adds are caught too).
//
// The document's format, as parsed here: a key is a table row whose first cell is one path in
// backticks, `sched.load[].runnable` (`[]`: the elements of an array; `*`: an object whose keys
// are data, such as a family or device name). A type cell holding `<name>` in backticks makes the
// value an instance of the type whose rows start with `<name>.` (`<histogram>.p99`). A type cell
// holding the word "optional" marks a path that only some windows produce, with its children.
#pragma once

#include <fmt/format.h>

#include <istream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace report_json_doc {

using nlohmann::json;

struct DocKey {
  std::string type_ref;  // "<histogram>" when the value is an instance of a documented type
  bool optional = false;
  size_t line = 0;
};

struct Doc {
  std::map<std::string, DocKey> keys;
  std::vector<std::string> errors;  // rows the parser could not read
};

inline Doc parse_doc(std::istream &in) {
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

inline std::string child_of(const std::string &path, const std::string &key) { return path.empty() ? key : path + "." + key; }

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
inline bool optional_here(const Doc &doc, std::string path) {
  for (;;) {
    auto it = doc.keys.find(path);
    if (it != doc.keys.end() && it->second.optional) return true;
    size_t cut = path.find_last_of(".[");
    if (cut == std::string::npos || cut == 0) return false;
    path.resize(cut);
  }
}

// Empty when the document and the reports agree; else one line per disagreement, saying what to do.
// `undocumented_only`: a window whose workload is timing-dependent may miss a documented key.
inline std::string disagreements(const Doc &doc, const std::vector<json> &reports, bool undocumented_only = false) {
  KeyWalk walk(doc);
  for (const auto &report : reports) walk.walk(report, "");
  std::string out;
  for (const auto &e : doc.errors) out += fmt::format("docs/report-json.md {}\n", e);
  for (const auto &path : walk.produced())
    if (!doc.keys.count(path))
      out += fmt::format("undocumented: the report has `{}`; add a row `| `{}` | type | unit | meaning |` to "
                         "docs/report-json.md\n",
                         path, path);
  if (undocumented_only) return out;
  for (const auto &[path, key] : doc.keys)
    if (!walk.produced().count(path) && !optional_here(doc, path))
      out += fmt::format("not produced: docs/report-json.md line {} lists `{}`, which no report built here holds; remove "
                         "the row, or mark it optional (type cell) and say when it is present\n",
                         key.line, path);
  return out;
}

inline Doc doc_of(const std::string &text) {
  std::istringstream in(text);
  return parse_doc(in);
}

}  // namespace report_json_doc

// A "top processes" list, described once per list and drawn from that description by both the
// text section and the HTML page: the two cannot drift to different columns or a different
// heading. The rows themselves are ranked when the report is built (rank_top) and sit in the
// section's JSON under the list's key, with how many there were under "<key>_total".
#pragma once

#include <algorithm>
#include <cstddef>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace triage {

// Ranks `rows` largest `measure` first, ties to the smallest `key` (the same rows in the same order
// from any recording of them), and keeps the first `limit`.
template <typename Row, typename Measure, typename Key>
void rank_top(std::vector<Row> &rows, Measure measure, Key key, size_t limit) {
  std::stable_sort(rows.begin(), rows.end(), [&](const Row &a, const Row &b) {
    const auto measure_a = measure(a), measure_b = measure(b);
    return measure_a != measure_b ? measure_a > measure_b : key(a) < key(b);
  });
  if (rows.size() > limit) rows.resize(limit);
}

// One cell from a row's field `key`: text as the terminal shows it (printable), or HTML already
// escaped.
using TopCell = std::string (*)(const nlohmann::json &row, const char *key);

struct TopColumn {
  // Text alignment: the name column is as wide as its names (at least 16); the last column is
  // left as long as it is, after two spaces; any other is right-aligned in `width`.
  static constexpr int kName = -1, kLast = 0;
  const char *header;       // the text's, "PID"
  const char *html_header;  // the page's, "command"
  const char *key;
  int width;
  TopCell text, html;
};

struct TopTable {
  const char *key;        // the list's key in its section
  const char *title;      // the text's heading; the page's begins with a capital
  const char *ranked_by;  // list_extent()'s "top 10 of 57 by <ranked_by>"
  std::vector<TopColumn> columns;
  bool html_says_none = true;  // an empty list reads "none" on the page, else the page leaves it out
  size_t shown = 10;           // rows the text and the page show; the JSON holds the list whole
};

void render_top_text(const TopTable &table, const nlohmann::json &section, std::string &out);
std::string render_top_html(const TopTable &table, const nlohmann::json &section);

// Cells shared by the lists. Text reads a missing field as 0 or "", HTML through html.h's tolerant
// accessors.
namespace top_cells {
std::string text_number(const nlohmann::json &row, const char *key);
std::string text_string(const nlohmann::json &row, const char *key);
std::string text_duration_ns(const nlohmann::json &row, const char *key);
std::string text_process(const nlohmann::json &row, const char *key);  // process_label(), key unused
std::string html_id(const nlohmann::json &row, const char *key);
std::string html_exact(const nlohmann::json &row, const char *key);
std::string html_num(const nlohmann::json &row, const char *key);
std::string html_string(const nlohmann::json &row, const char *key);
std::string html_duration_ns(const nlohmann::json &row, const char *key);  // as the text shows it
std::string html_latency_ns(const nlohmann::json &row, const char *key);   // fmt_latency()'s units
std::string html_bytes(const nlohmann::json &row, const char *key);
std::string html_process(const nlohmann::json &row, const char *key);  // process_label(), key unused
}  // namespace top_cells

}  // namespace triage

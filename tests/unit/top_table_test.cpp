// The shared top list (report/top_table.h): ranking ties and the one description drawn as text and
// as HTML. The families' lists are checked byte for byte by the goldens; these pin what the goldens'
// data may not show (ties, a list cut short, an empty list on the page).
#include <catch2/catch.hpp>

#include "report/top_table.h"

using namespace triage;
using nlohmann::json;

TEST_CASE("top table: ranked largest first, ties to the smallest key, cut to the limit") {
  std::vector<std::pair<uint32_t, uint64_t>> rows = {{7, 10}, {3, 20}, {5, 10}, {1, 5}, {9, 20}};
  rank_top(rows, [](const auto &r) { return r.second; }, [](const auto &r) { return r.first; }, 4);
  REQUIRE(rows.size() == 4);
  CHECK(rows[0].first == 3);
  CHECK(rows[1].first == 9);
  CHECK(rows[2].first == 5);
  CHECK(rows[3].first == 7);
}

TEST_CASE("top table: text and HTML draw the same columns from one description") {
  using namespace top_cells;
  const TopTable table{"top_x",
                       "top processes by x",
                       "x",
                       {{"PID", "PID", "pid", 8, text_number, html_id},
                        {"COMM", "command", "comm", TopColumn::kName, text_process, html_process},
                        {"TOTAL", "total", "total_ns", 10, text_duration_ns, html_duration_ns},
                        {"CGROUP", "cgroup", "cgroup", TopColumn::kLast, text_string, html_string}},
                       true,
                       1};
  json section = {{"top_x",
                   {{{"pid", 42}, {"comm", "worker"}, {"total_ns", 2'000'000}, {"cgroup", "/a"}},
                    {{"pid", 43}, {"comm", "idle"}, {"total_ns", 1'000}, {"cgroup", "/b"}}}},
                  {"top_x_total", 5}};
  std::string text;
  render_top_text(table, section, text);
  CHECK(text ==
        "\ntop processes by x (top 1 of 5 by x)\n"
        "       PID COMM                  TOTAL  CGROUP\n"
        "        42 worker                2.0ms  /a\n");
  const std::string html = render_top_html(table, section);
  CHECK(html.rfind("<h3>Top processes by x (top 1 of 5 by x)</h3>", 0) == 0);
  CHECK(html.find("<th>command</th>") != std::string::npos);
  CHECK(html.find("worker") != std::string::npos);
  CHECK(html.find("idle") == std::string::npos);

  section["top_x"] = json::array();
  text.clear();
  render_top_text(table, section, text);
  CHECK(text == "\ntop processes by x\n  (none)\n");
  CHECK(render_top_html(table, section) == R"(<h3>Top processes by x</h3><p class="absent">none</p>)");
  TopTable quiet = table;
  quiet.html_says_none = false;
  CHECK(render_top_html(quiet, section).empty());
}

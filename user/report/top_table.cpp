#include "report/top_table.h"

#include <fmt/format.h>

#include <cctype>

#include "report/html_parts.h"
#include "report/process_names.h"
#include "report/text_util.h"

namespace triage {

using nlohmann::json;

void render_top_text(const TopTable &table, const json &section, std::string &out) {
  const json &rows = section[table.key];
  if (rows.empty()) {
    out += fmt::format("\n{}\n  (none)\n", table.title);
    return;
  }
  const size_t shown = std::min(rows.size(), table.shown);
  const size_t total = section.value(std::string(table.key) + "_total", rows.size());
  out += fmt::format("\n{} ({})\n", table.title, list_extent(shown, total, table.ranked_by));
  const size_t name_columns = name_width(rows, shown, 16);
  auto line = [&](auto &&cell) {
    std::string text = " ";
    for (const TopColumn &column : table.columns) {
      const std::string value = cell(column);
      if (column.width == TopColumn::kLast) text += "  " + value;
      else if (column.width == TopColumn::kName) text += fmt::format(" {:<{}}", value, name_columns);
      else text += fmt::format(" {:>{}}", value, column.width);
    }
    out += text + "\n";
  };
  line([](const TopColumn &column) { return std::string(column.header); });
  for (size_t i = 0; i < shown; i++) line([&](const TopColumn &column) { return column.text(rows[i], column.key); });
}

std::string render_top_html(const TopTable &table, const json &section) {
  std::string title = table.title;
  if (!title.empty()) title[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(title[0])));
  const json &rows = html::arr(section, table.key);
  if (rows.empty()) return table.html_says_none ? fmt::format(R"(<h3>{}</h3><p class="absent">none</p>)", title) : "";
  std::vector<std::string> header;
  for (const TopColumn &column : table.columns) header.push_back(column.html_header);
  std::vector<std::vector<std::string>> cells;
  for (const auto &row : rows) {
    if (cells.size() == table.shown) break;
    auto &line = cells.emplace_back();
    for (const TopColumn &column : table.columns) line.push_back(column.html(row, column.key));
  }
  // A damaged report's total below its own list's length reads as the list's length.
  const double total =
      std::max(html::num(section, (std::string(table.key) + "_total").c_str()), static_cast<double>(rows.size()));
  return fmt::format("<h3>{} ({})</h3>", title,
                     html_escape(list_extent(cells.size(), static_cast<size_t>(total), table.ranked_by))) +
         html::table(header, cells);
}

namespace top_cells {

std::string text_number(const json &row, const char *key) { return fmt::format("{}", row.value(key, 0ULL)); }
std::string text_string(const json &row, const char *key) { return printable(row.value(key, "")); }
std::string text_duration_ns(const json &row, const char *key) { return format_duration_ns(row.value(key, 0ULL)); }
std::string text_process(const json &row, const char *) { return printable(process_label(row)); }

std::string html_id(const json &row, const char *key) { return html::fmt_id(html::num(row, key)); }
std::string html_exact(const json &row, const char *key) { return html::fmt_exact(html::num(row, key)); }
std::string html_num(const json &row, const char *key) { return html::fmt_num(html::num(row, key)); }
std::string html_string(const json &row, const char *key) { return html_escape(html::str(row, key)); }
std::string html_duration_ns(const json &row, const char *key) {
  return format_duration_ns(html::to_u64(html::num(row, key)));
}
std::string html_latency_ns(const json &row, const char *key) { return html::fmt_latency(html::num(row, key) / 1000, "us"); }
std::string html_bytes(const json &row, const char *key) { return html::fmt_bytes(html::num(row, key)); }
std::string html_process(const json &row, const char *) { return html_escape(process_label(row)); }

}  // namespace top_cells

}  // namespace triage

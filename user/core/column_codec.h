// Rows stored as arrays under a column list written once (meta "<family>.<name>.columns"), since
// recording schema 4: the field names, written in every row of every interval, were half of an
// idle hour's bytes. Columns are only ever appended, so an earlier row's array stays valid; a
// family's tables and series share one namespace of names. Two ways with blanks:
//   - table rows (core/delta_table.h): a 0 stands for a value at its default (0, "", an empty
//     histogram) and trailing ones are left out; reading leaves a 0's key out, so the field
//     takes its default;
//   - series rows (RecordingWriter::add_series): exact; every value is kept, null stands for an
//     absent key (a series row without `close_wait` between connection walks).
// A stored object (schema 3) is read as it is.
#pragma once

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace triage {

class ColumnCodec {
 public:
  enum class Blanks { as_zero, kept };
  explicit ColumnCodec(Blanks blanks = Blanks::as_zero) : blanks_(blanks) {}

  static std::string meta_key(const std::string &family, const std::string &name) {
    return family + "." + name + ".columns";
  }

  // `object`: a row's JSON. Returns its array; take_grew() says a column was added since last asked.
  nlohmann::json encode(const nlohmann::json &object) {
    std::vector<const nlohmann::json *> values(columns_.size(), nullptr);
    for (const auto &[name, value] : object.items()) {
      auto it = std::find(columns_.begin(), columns_.end(), name);
      size_t at = static_cast<size_t>(it - columns_.begin());
      if (it == columns_.end()) {
        columns_.push_back(name);
        values.push_back(nullptr);
        grew_ = true;
      }
      values[at] = &value;
    }
    auto blank = [&](const nlohmann::json *v) { return !v || (blanks_ == Blanks::as_zero && is_blank(*v)); };
    size_t used = values.size();
    while (used > 0 && blank(values[used - 1])) used--;
    nlohmann::json out = nlohmann::json::array();
    for (size_t i = 0; i < used; i++) {
      if (!blank(values[i])) out.push_back(*values[i]);
      else out.push_back(blanks_ == Blanks::as_zero ? nlohmann::json(0) : nlohmann::json(nullptr));
    }
    return out;
  }
  bool take_grew() { return std::exchange(grew_, false); }
  const std::vector<std::string> &columns() const { return columns_; }

  // A stored row back to its JSON object. A value past the known columns (a damaged file) is
  // ignored; a row that is not an array is returned as it is.
  static nlohmann::json decode(const nlohmann::json &stored, const std::vector<std::string> &columns,
                               Blanks blanks = Blanks::as_zero) {
    if (!stored.is_array()) return stored;
    nlohmann::json object = nlohmann::json::object();
    for (size_t i = 0; i < stored.size() && i < columns.size(); i++) {
      const auto &v = stored[i];
      bool absent = v.is_null() || (blanks == Blanks::as_zero && v.is_number() && v == 0);
      if (!absent) object[columns[i]] = v;
    }
    return object;
  }

 private:
  static bool is_blank(const nlohmann::json &v) {
    return v.is_null() || (v.is_number() && v == 0) || (v.is_string() && v.get_ref<const std::string &>().empty()) ||
           (v.is_structured() && v.empty());
  }
  Blanks blanks_;
  std::vector<std::string> columns_;
  bool grew_ = false;
};

}  // namespace triage

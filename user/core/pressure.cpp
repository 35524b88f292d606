#include "core/pressure.h"

#include <algorithm>
#include <charconv>
#include <cstdlib>

#include "core/text_fields.h"

namespace triage {
namespace {

template <typename Number>
bool parse_field(std::string_view word, std::string_view name, Number &value) {
  if (!word.starts_with(name) || word.size() <= name.size() || word[name.size()] != '=') return false;
  word.remove_prefix(name.size() + 1);
  if constexpr (std::is_floating_point_v<Number>) {
    std::string text(word);  // strtod needs the terminating NUL
    char *end = nullptr;
    value = std::strtod(text.c_str(), &end);
    return end && *end == '\0';
  } else {
    auto [end, error] = std::from_chars(word.data(), word.data() + word.size(), value);
    return error == std::errc() && end == word.data() + word.size();
  }
}

std::optional<PressureLine> parse_line(std::string_view line) {
  PressureLine out;
  int seen = 0;
  size_t pos = line.find(' ');
  while (pos != std::string_view::npos && pos < line.size()) {
    size_t start = pos + 1, end = line.find(' ', start);
    std::string_view word = line.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start);
    seen += parse_field(word, "avg10", out.avg10) + parse_field(word, "avg60", out.avg60) +
            parse_field(word, "avg300", out.avg300) + parse_field(word, "total", out.total_us);
    pos = end;
  }
  if (seen != 4) return std::nullopt;
  return out;
}

}  // namespace

std::optional<ResourcePressure> parse_pressure(std::string_view text) {
  ResourcePressure out;
  while (!text.empty()) {
    size_t end = text.find('\n');
    std::string_view line = text.substr(0, end);
    if (line.starts_with("some ")) out.some = parse_line(line);
    else if (line.starts_with("full ")) out.full = parse_line(line);
    if (end == std::string_view::npos) break;
    text.remove_prefix(end + 1);
  }
  if (!out.some) return std::nullopt;
  return out;
}

PressureReading read_pressure(const std::string &dir) {
  auto read = [&](const char *name) -> std::optional<ResourcePressure> {
    auto text = read_small_file(dir + "/" + name);
    return text ? parse_pressure(*text) : std::nullopt;
  };
  return {read("cpu"), read("io"), read("memory")};
}

nlohmann::json pressure_json(const PressureReading &reading) {
  auto line = [](const std::optional<PressureLine> &l) -> nlohmann::json {
    if (!l) return nullptr;
    return {{"avg10", l->avg10}, {"avg60", l->avg60}, {"avg300", l->avg300}, {"total_us", l->total_us}};
  };
  auto resource = [&](const std::optional<ResourcePressure> &r) -> nlohmann::json {
    if (!r) return nullptr;
    return {{"some", line(r->some)}, {"full", line(r->full)}};
  };
  return {{"cpu", resource(reading.cpu)}, {"io", resource(reading.io)}, {"memory", resource(reading.memory)}};
}

std::optional<double> stall_pct(const std::optional<PressureLine> &earlier, const std::optional<PressureLine> &later,
                                double elapsed_us) {
  if (!earlier || !later || elapsed_us <= 0 || later->total_us < earlier->total_us) return std::nullopt;
  return std::min(100.0, 100.0 * static_cast<double>(later->total_us - earlier->total_us) / elapsed_us);
}

}  // namespace triage

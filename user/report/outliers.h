// Outlier lists in a report section: when there are more than a report can show, keep the worst.
#pragma once

#include <algorithm>
#include <cstddef>
#include <vector>

#include <nlohmann/json.hpp>

namespace triage {

// Keeps the `limit` rows with the largest `key` (e.g. "duration_ns"), back in time order ("t").
inline nlohmann::json keep_worst(const nlohmann::json &rows, size_t limit, const char *key) {
  if (rows.size() <= limit) return rows;
  std::vector<nlohmann::json> kept(rows.begin(), rows.end());
  std::nth_element(kept.begin(), kept.begin() + static_cast<std::ptrdiff_t>(limit), kept.end(),
                   [key](const nlohmann::json &a, const nlohmann::json &b) {
                     return a.value(key, 0ULL) > b.value(key, 0ULL);
                   });
  kept.resize(limit);
  std::sort(kept.begin(), kept.end(), [](const nlohmann::json &a, const nlohmann::json &b) { return a["t"] < b["t"]; });
  return kept;
}

}  // namespace triage

// When a finding's condition held, in seconds from the window's start: every finding carries
// first_t, last_t and peak_t (../shared/INTERFACE.md), so a condition that held at any moment of
// the slice counts even if it was gone by its end, and the on-call sees when.
#pragma once

#include <cmath>
#include <optional>

#include <nlohmann/json.hpp>

namespace triage {

class ConditionSpan {
 public:
  // One reading at `t_s`: `value` is the finding's measure (load, overflows, sockets), `holds`
  // whether the condition held then.
  void observe(double t_s, double value, bool holds) {
    if (!holds) return;
    if (!first_t_) first_t_ = t_s;
    last_t_ = t_s;
    if (!peak_t_ || value > peak_) {
      peak_ = value;
      peak_t_ = t_s;
    }
  }
  bool held() const { return first_t_.has_value(); }
  double first_t() const { return first_t_.value_or(0); }
  double last_t() const { return last_t_.value_or(0); }
  double peak_t() const { return peak_t_.value_or(0); }
  double peak() const { return peak_; }
  // Adds first_t, last_t, peak_t to a finding (to 0.01 s).
  void stamp(nlohmann::json &finding) const {
    // In doubles throughout: a damaged row's time may lie past any integer type.
    auto round = [](double t) { return std::round(t * 100) / 100; };
    finding["first_t"] = round(first_t());
    finding["last_t"] = round(last_t());
    finding["peak_t"] = round(peak_t());
  }

 private:
  std::optional<double> first_t_, last_t_, peak_t_;
  double peak_ = 0;
};

}  // namespace triage

#pragma once
// A bound on how fast one source may write log lines.  A flood (strangers connecting hundreds of
// times a second, each refused) must not grow a log without limit, yet the first refusals and a
// steady trickle of them stay visible: a line is allowed while the budget of `per_window` lines
// in the current `window` lasts; later ones are counted, and the next allowed line says how
// many were held back.
//
//   log_budget budget(10, std::chrono::seconds(1));
//   if (auto held = budget.allow(now)) spdlog::warn("refused {}{}", who, log_budget::held_note(*held));
//
// Not thread-safe: its owner's lock guards it.  The clock is passed in (tests drive it).

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

namespace prfaas {

class log_budget {
 public:
  using time_point = std::chrono::steady_clock::time_point;
  log_budget(int per_window, std::chrono::milliseconds window) : per_window_(per_window), window_(window) {}

  // The number of lines held back since the last allowed one when a line may be written now;
  // nothing when it may not (it is then counted).
  std::optional<uint64_t> allow(time_point now) {
    if (!started_ || now - window_start_ >= window_) {
      started_ = true;
      window_start_ = now;
      used_ = 0;
    }
    if (used_ >= per_window_) {
      ++held_;
      return std::nullopt;
    }
    ++used_;
    const uint64_t held = held_;
    held_ = 0;
    return held;
  }
  uint64_t held() const { return held_; }
  // What an allowed line adds to say how many were held back before it ("" for none).
  static std::string held_note(uint64_t held) {
    return held ? " (" + std::to_string(held) + " more not logged)" : std::string();
  }

 private:
  int per_window_;
  std::chrono::milliseconds window_;
  bool started_ = false;
  time_point window_start_{};
  int used_ = 0;
  uint64_t held_ = 0;
};

}  // namespace prfaas

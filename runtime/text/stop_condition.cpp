#include "runtime/text/stop_condition.h"

#include <algorithm>

namespace prfaas::text {

stop_condition::stop_condition(const tokenizer* tok, std::vector<int32_t> stop_ids, std::vector<std::string> stop_strings)
    : tok_(tok), ids_(std::move(stop_ids)), strings_(std::move(stop_strings)) {
  std::sort(ids_.begin(), ids_.end());
  ids_.erase(std::unique(ids_.begin(), ids_.end()), ids_.end());
  std::erase_if(strings_, [](const std::string& s) { return s.empty(); });
  if (!tok_) strings_.clear();
  for (const auto& s : strings_) keep_ = std::max(keep_, s.size() - 1);
}

bool stop_condition::push(int32_t token) {
  if (std::binary_search(ids_.begin(), ids_.end(), token)) return true;
  if (strings_.empty()) return false;
  const int32_t one[] = {token};
  const size_t before = tail_.size();
  tail_ += tok_->decode(one);
  // Only a match that ends in the new bytes is new: search from where one could begin.
  const size_t from = before > keep_ ? before - keep_ : 0;
  for (const auto& s : strings_)
    if (tail_.find(s, from) != std::string::npos) return true;
  if (tail_.size() > keep_) tail_.erase(0, tail_.size() - keep_);
  return false;
}

size_t stop_text_cut(const std::string& text, const std::vector<std::string>& stop_strings) {
  size_t cut = std::string::npos;
  for (const auto& s : stop_strings)
    if (!s.empty()) cut = std::min(cut, text.find(s));
  return cut;
}

size_t stop_prefix_held(const std::string& text, const std::vector<std::string>& stop_strings) {
  size_t held = 0;
  for (const auto& s : stop_strings) {
    if (s.empty()) continue;
    for (size_t n = std::min(s.size() - 1, text.size()); n > held; --n)
      if (text.compare(text.size() - n, n, s, 0, n) == 0) {
        held = n;
        break;
      }
  }
  return held;
}

}  // namespace prfaas::text

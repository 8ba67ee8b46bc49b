#include "runtime/gateway/reply_text.h"

#include "runtime/text/stop_condition.h"

namespace prfaas::gateway {

choice_text finished_choice(const completion_request& r, const text::tokenizer& t, const std::vector<int32_t>& tokens,
                            bool stopped, const std::vector<model::token_logprobs>& logprobs) {
  std::string s = t.decode(tokens, r.skip_special_tokens);
  const size_t cut = text::stop_text_cut(s, r.stop);
  if (cut != std::string::npos) s.resize(cut);
  choice_text c{std::move(s), cut != std::string::npos || stopped ? "stop" : "length", {}};
  auto text_of = [&](int32_t id) {
    const int32_t one[] = {id};
    return t.decode(one);
  };
  for (size_t i = 0; i < logprobs.size() && i < tokens.size(); ++i) {
    const auto& lp = logprobs[i];
    token_logprob e{text_of(tokens[i]), lp.logprob, {}};
    for (size_t k = 0; k < lp.top_ids.size() && k < lp.top_logprobs.size(); ++k)
      e.top.emplace_back(text_of(lp.top_ids[k]), lp.top_logprobs[k]);
    c.logprobs.push_back(std::move(e));
  }
  return c;
}

std::string streamed_text::push(const std::vector<int32_t>& tokens) {
  for (int32_t id : tokens) all_ += decoder_.push(id);
  return release(false);
}

std::string streamed_text::finish() {
  if (!stopped_) all_ += decoder_.flush();
  return release(true);
}

std::string streamed_text::release(bool last) {
  if (!stopped_) {
    const size_t cut = text::stop_text_cut(all_, stop_);
    if (cut != std::string::npos) {
      all_.resize(cut);
      stopped_ = true;
    }
  }
  size_t upto = all_.size();
  if (!stopped_ && !last)
    upto = text::complete_utf8_prefix(std::string_view(all_).substr(0, upto - text::stop_prefix_held(all_, stop_)));
  if (upto <= sent_) return "";
  std::string out = all_.substr(sent_, upto - sent_);
  sent_ = upto;
  return out;
}

}  // namespace prfaas::gateway

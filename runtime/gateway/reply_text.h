#pragma once
// A reply's text from its tokens, as the client sees it: decoded in the model's own text (special
// tokens left out unless asked for), cut where a stop string begins, with each token's
// log-probabilities as text.  streamed_text does the same a piece at a time: whole UTF-8
// characters only, and never a stop string (the bytes that may begin one wait for the next
// tokens).  Pure: actors/gateway.cpp feeds it what the router returns.

#include <cstdint>
#include <string>
#include <vector>

#include "runtime/gateway/openai.h"
#include "runtime/model/sampler.h"
#include "runtime/text/tokenizer.h"

namespace prfaas::gateway {

// A finished choice: `stopped` says the decode node ended it at a stop token or string.
choice_text finished_choice(const completion_request& r, const text::tokenizer& t, const std::vector<int32_t>& tokens,
                            bool stopped, const std::vector<model::token_logprobs>& logprobs);

class streamed_text {
 public:
  streamed_text(const text::tokenizer& t, const completion_request& r) : decoder_(t, r.skip_special_tokens), stop_(r.stop) {}
  // The text that may go out now.
  std::string push(const std::vector<int32_t>& tokens);
  // What is left at the end (held bytes that turned out not to begin a stop string).
  std::string finish();
  bool stopped() const { return stopped_; }

 private:
  std::string release(bool last);
  text::stream_decoder decoder_;
  std::vector<std::string> stop_;
  std::string all_;
  size_t sent_ = 0;
  bool stopped_ = false;
};

}  // namespace prfaas::gateway

#pragma once
// When a sequence ends before its max_tokens: a stop token (the model's end-of-sequence ids and
// the request's stop_token_ids) or a stop string in the text the tokens decode to, found even
// when it spans several tokens.  Checked on the decode node after every token, so a stopped
// sequence leaves the batch at once (its slot and blocks freed, only the tokens produced counted).
//
//   text::stop_condition stop(tok, {eos ids + stop_token_ids}, {"\n\n", "END"});
//   for each new token t:  if (stop.push(t)) { finish_reason = "stop"; break; }
//
// The stopping token is part of the output (as OpenAI-compatible servers count it); the client's
// text is cut where the stop string begins (stop_text_cut below).  Holds a bounded tail of the
// text: the longest stop string less one byte, plus one token's bytes.

#include <cstdint>
#include <string>
#include <vector>

#include "runtime/text/tokenizer.h"

namespace prfaas::text {

class stop_condition {
 public:
  // `tok` must outlive this; null means no stop strings can be checked (only ids).
  stop_condition(const tokenizer* tok, std::vector<int32_t> stop_ids, std::vector<std::string> stop_strings);
  // True when `token` ends the sequence.
  bool push(int32_t token);
  bool empty() const { return ids_.empty() && strings_.empty(); }

 private:
  const tokenizer* tok_;
  std::vector<int32_t> ids_;
  std::vector<std::string> strings_;
  size_t keep_ = 0;   // tail bytes a later match may still need
  std::string tail_;
};

// Where the client's text ends: the offset of the first stop string in `text`, else npos.
size_t stop_text_cut(const std::string& text, const std::vector<std::string>& stop_strings);

// How many bytes at the end of `text` could still begin a stop string (a streamed reply holds
// them back until the next token shows whether they do).
size_t stop_prefix_held(const std::string& text, const std::vector<std::string>& stop_strings);

}  // namespace prfaas::text

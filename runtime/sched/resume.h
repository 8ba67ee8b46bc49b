#pragma once
// A decode node lost in the middle of a request: the next attempt continues from the tokens
// already produced instead of starting over.
//
// The router keeps each request's output as its decode node reports it (token chunks, by
// offset: streams every 20 ms, other requests every 500 ms).  The next attempt prefills the
// prompt and every produced token but the last (the prompt's start is in the first prefill
// node's prefix cache, so only the new tail is computed), takes the last produced token as its
// next input instead of choosing one, and its decode node continues with the output so far as
// its own.  Sampling is a function of (seed, position, prompt, output) (model/sampler.h), so the
// tokens that follow are those the lost node would have produced, and a stream continues at
// the offset it had reached: no gap, no repeat.
//
//   produced_tokens out;                          // per request, fed by its decode node's chunks
//   out.add(chunk.offset, chunk.tokens);
//   if (auto r = resume_from(prompt, out.tokens(), logprobs_asked)) {
//     prefill_job.prompt = r->prompt; prefill_job.next_token = r->next_token();
//     decode_job.output = r->output;
//   }

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

namespace prfaas::sched {

// A request's output so far, in order, from chunks that may repeat what is known.
class produced_tokens {
 public:
  // The tokens from `offset` on: appends what is new.  A chunk past a gap is ignored (false).
  bool add(int offset, std::span<const int32_t> tokens);
  const std::vector<int32_t>& tokens() const { return tokens_; }

 private:
  std::vector<int32_t> tokens_;
};

struct resume_point {
  std::vector<int32_t> prompt;  // what the next attempt prefills: the prompt, then the output but its last token
  std::vector<int32_t> output;  // the output so far: its last token is the decode's next input
  int32_t next_token() const { return output.back(); }
};

// Where the next attempt starts.  nullopt: from the prompt alone (nothing produced yet, or the
// request asked for log-probabilities, which only the lost node held).
std::optional<resume_point> resume_from(std::span<const int32_t> prompt, std::span<const int32_t> output,
                                        bool logprobs_asked);

}  // namespace prfaas::sched

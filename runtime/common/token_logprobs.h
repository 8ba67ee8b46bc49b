#pragma once
// A chosen token's log-probability under the model (its raw distribution, before penalties and
// temperature, as OpenAI's API reports it) and the most likely alternatives.  Here, below both,
// because the sampler reports it and the KV transport carries the first token's to the decode
// node (runtime/transport/frame.h).

#include <cstdint>
#include <vector>

namespace prfaas {

// The most alternatives a token reports (OpenAI's bound on `logprobs` / `top_logprobs`).
inline constexpr int kMaxTopLogprobs = 20;

struct token_logprobs {
  float logprob = 0;
  std::vector<int32_t> top_ids;
  std::vector<float> top_logprobs;
};

}  // namespace prfaas

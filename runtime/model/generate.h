#pragma once
// In-process generation: the reference every deployment path is compared against.

#include <cstdint>
#include <string>
#include <vector>

#include "runtime/kv/block_pool.h"
#include "runtime/model/hybrid_model.h"

namespace prfaas::model {

struct generation {
  std::vector<int32_t> tokens;  // generated tokens, the first one sampled from the prefill
  double prefill_ms = 0;
  double decode_ms = 0;         // time for tokens after the first
};

// Validates the request the way the router does: throws failure(prompt_too_long) or
// failure(invalid_argument) with a message naming the limit.
void check_request(const model_config& config, size_t prompt_tokens, int max_tokens);

// Prefill then greedy decode of `max_tokens` tokens (at least 1).
generation generate(const hybrid_model& model, kv::block_pool& pool,
                    const std::vector<int32_t>& prompt, int max_tokens);

// The same with each step's log-probabilities: the chosen token's and the `top` most likely
// (`prfaas generate --in-process --logprobs N`, the numbers the reference fixtures hold).
struct greedy_step {
  int32_t token = 0;
  float logprob = 0;
  std::vector<std::pair<int32_t, float>> top;  // most likely first
};
std::vector<greedy_step> greedy_with_logprobs(const hybrid_model& model, kv::block_pool& pool,
                                              const std::vector<int32_t>& prompt, int max_tokens, int top);

}  // namespace prfaas::model

#include "runtime/model/generate.h"

#include <chrono>

#include "runtime/common/errc.h"
#include "runtime/model/logprobs.h"

namespace prfaas::model {

void check_request(const model_config& config, size_t prompt_tokens, int max_tokens) {
  if (prompt_tokens == 0) throw failure(errc::invalid_argument, "empty prompt");
  if (max_tokens < 1) throw failure(errc::invalid_argument, "max tokens must be at least 1");
  if (prompt_tokens + static_cast<size_t>(max_tokens) > static_cast<size_t>(config.max_context))
    throw failure(errc::prompt_too_long,
                  "prompt of " + std::to_string(prompt_tokens) + " tokens plus " +
                      std::to_string(max_tokens) + " new tokens exceeds the model's context of " +
                      std::to_string(config.max_context));
}

generation generate(const hybrid_model& model, kv::block_pool& pool,
                    const std::vector<int32_t>& prompt, int max_tokens) {
  check_request(model.config(), prompt.size(), max_tokens);
  using clock = std::chrono::steady_clock;
  generation out;
  kv::sequence_kv kv(model.config().kv_layout(), pool);
  kv.reserve(static_cast<int>(prompt.size()) + max_tokens);
  const auto t0 = clock::now();
  int32_t next = greedy(model.prefill(prompt, kv));
  const auto t1 = clock::now();
  out.tokens.push_back(next);
  while (static_cast<int>(out.tokens.size()) < max_tokens) {
    next = greedy(model.decode_step(next, kv));
    out.tokens.push_back(next);
  }
  const auto t2 = clock::now();
  out.prefill_ms = std::chrono::duration<double, std::milli>(t1 - t0).count();
  out.decode_ms = std::chrono::duration<double, std::milli>(t2 - t1).count();
  return out;
}

std::vector<greedy_step> greedy_with_logprobs(const hybrid_model& model, kv::block_pool& pool,
                                              const std::vector<int32_t>& prompt, int max_tokens, int top) {
  check_request(model.config(), prompt.size(), max_tokens);
  for (int32_t t : prompt)
    if (t < 0 || t >= model.config().vocab)
      throw failure(errc::invalid_argument, "token id " + std::to_string(t) + " is outside the vocabulary of " +
                                                std::to_string(model.config().vocab));
  kv::sequence_kv kv(model.config().kv_layout(), pool);
  kv.reserve(static_cast<int>(prompt.size()) + max_tokens);
  auto logits = model.prefill(prompt, kv);
  std::vector<greedy_step> steps;
  for (int i = 0; i < max_tokens; ++i) {
    const auto lp = log_softmax(logits);
    const int32_t next = greedy(logits);
    steps.push_back({next, lp[next], top_logprobs(lp, top)});
    if (i + 1 < max_tokens) logits = model.decode_step(next, kv);
  }
  return steps;
}

}  // namespace prfaas::model

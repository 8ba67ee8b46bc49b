#pragma once
// A hybrid-attention model as an engine (the built-in seeded model or a loaded checkpoint):
// real math on the CPU, greedy or seeded sampling (model/sampler.h).

#include "runtime/engine/engine.h"
#include "runtime/model/hybrid_model.h"

namespace prfaas::engine {

class tiny_engine final : public engine {
 public:
  explicit tiny_engine(const model::model_config& config) : model_(config) {}
  explicit tiny_engine(std::shared_ptr<const model::checkpoint> weights) : model_(std::move(weights)) {}

  const model::model_config& layout() const override { return model_.config(); }
  prefill_output prefill(kv::prefix_cache* cache, std::span<const int32_t> prompt, kv::sequence_kv& kv,
                         const model::payload_hook& on_final = {},
                         const std::function<void(int layer)>& after_layer = {},
                         const model::sampling_params* sampling = nullptr) const override {
    const auto r = model::cached_prefill(model_, cache, prompt, kv, on_final, after_layer);
    prefill_output out{0, r.cached_tokens, r.computed_tokens, {}};
    out.first_token = model::token_choice{sampling, prompt, {}, &out.first_logprobs}.choose(r.logits);
    return out;
  }
  int32_t decode_step(int32_t token, kv::sequence_kv& kv, const model::token_choice& how = {}) const override {
    return how.choose(model_.decode_step(token, kv));
  }
  std::vector<int32_t> decode_steps(std::span<const int32_t> tokens, std::span<kv::sequence_kv* const> kvs,
                                    std::span<const model::token_choice> how = {}) const override {
    const auto logits = model_.decode_batch(tokens, kvs);
    const size_t vocab = static_cast<size_t>(model_.config().vocab);
    std::vector<int32_t> next;
    for (size_t i = 0; i < tokens.size(); ++i)
      next.push_back((how.empty() ? model::token_choice{} : how[i]).choose(std::span(logits).subspan(i * vocab, vocab)));
    return next;
  }

  const model::hybrid_model& model() const { return model_; }

 private:
  model::hybrid_model model_;
};

}  // namespace prfaas::engine

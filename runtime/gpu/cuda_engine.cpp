#include "runtime/gpu/cuda_engine.h"

#include "runtime/common/errc.h"
#include "runtime/model/hybrid_model.h"

namespace prfaas::gpu {

::prfaas::engine::prefill_output cuda_engine::prefill(kv::prefix_cache* cache, std::span<const int32_t> prompt,
                                            kv::sequence_kv& kv, const model::payload_hook& on_final,
                                            const std::function<void(int layer)>& after_layer) const {
  const auto forward = [this](std::span<const int32_t> tokens, kv::sequence_kv& seq,
                              const model::hybrid_model::layer_hook& hook) {
    return model_->forward_host(tokens, seq, hook);
  };
  const auto r = model::cached_prefill(model_->config(), forward, cache, prompt, kv, on_final, after_layer);
  return {model::greedy(r.logits), r.cached_tokens, r.computed_tokens};
}

int32_t cuda_engine::decode_step(int32_t token, kv::sequence_kv& kv) const {
  return model::greedy(model_->forward_host(std::span(&token, 1), kv, {}));
}

}  // namespace prfaas::gpu

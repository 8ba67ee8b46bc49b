#pragma once
// The tiny hybrid-attention model: embedding, n_layers of (RMSNorm, attention, RMSNorm, SwiGLU
// MLP) with residuals, final RMSNorm and LM head.  Attention is GQA with RoPE on full layers and
// the gated delta rule on linear layers (config.kind(layer)).
//
//   hybrid_model m(config);                          // weights from config.seed
//   kv::sequence_kv kv(config, pool);
//   kv.reserve(prompt.size() + max_tokens);
//   auto logits = m.prefill(prompt, kv, [&](int layer) { send_layer(layer); });
//   int32_t next = greedy(logits);
//   logits = m.decode_step(next, kv);               // one position at a time after that
//
// Immutable after construction: one model may serve several sequences from several threads.

#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "runtime/kv/sequence_kv.h"
#include "runtime/model/config.h"
#include "runtime/model/weights.h"

namespace prfaas::model {

class hybrid_model {
 public:
  explicit hybrid_model(model_config config);

  const model_config& config() const { return config_; }

  // Called with a layer index as soon as that layer's KV (blocks or state) is final.
  using layer_hook = std::function<void(int layer)>;

  // Appends `tokens` at positions kv.tokens()...; runs layer by layer over all of them so that
  // each layer's KV is complete before the next layer starts. Returns the last token's logits.
  std::vector<float> prefill(std::span<const int32_t> tokens, kv::sequence_kv& kv,
                             const layer_hook& hook = {}) const;

  // Appends one token and returns its logits.
  std::vector<float> decode_step(int32_t token, kv::sequence_kv& kv) const;

 private:
  std::vector<float> forward(std::span<const int32_t> tokens, kv::sequence_kv& kv,
                             const layer_hook& hook) const;
  void full_attention(int layer, const float* h, int rows, int first, kv::sequence_kv& kv,
                      float* out) const;
  void linear_attention(int layer, const float* h, int rows, kv::sequence_kv& kv,
                        float* out) const;

  model_config config_;
  model_weights weights_;
};

// Greedy sampling: the most likely token, the first on ties.
int32_t greedy(const std::vector<float>& logits);

}  // namespace prfaas::model

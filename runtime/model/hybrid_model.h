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
#include <memory>
#include <span>
#include <vector>

#include "kernels/cpu/gemm.h"
#include "runtime/kv/sequence_kv.h"
#include "runtime/model/config.h"
#include "runtime/model/scratch_pool.h"
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

  // One decode step of several sequences in one forward pass: token i is appended to kvs[i].
  // Every weight's matrix multiply covers all of them (its weights read once per tile of rows,
  // not once per sequence); attention and the delta rule run per sequence on its own KV.
  // Returns the logits, vocab per sequence in order.  Bit-identical to decode_step on each: a
  // product's every output is the same dot product whatever the rows beside it.
  std::vector<float> decode_batch(std::span<const int32_t> tokens, std::span<kv::sequence_kv* const> kvs) const;

 private:
  // Rows [row0, row0 + rows) of a forward pass belong to one sequence, from position `first`.
  struct segment {
    kv::sequence_kv* kv;
    int first, row0, rows;
  };
  // Runs rows through every layer; returns the logits of each segment's last row.
  std::vector<float> forward(std::span<const int32_t> tokens, std::span<const segment> segments,
                             const layer_hook& hook) const;
  // A layer's token mixer: `mem` is scratch of rows * mixer_floats() floats.
  void full_attention(int layer, const float* h, int rows, std::span<const segment> segments, float* mem,
                      float* out) const;
  void linear_attention(int layer, const float* h, int rows, std::span<const segment> segments, float* mem,
                        float* out) const;
  size_t mixer_floats() const;

  // Each layer's products with their weights stacked (one product for q, k, v and the gates;
  // one for the MLP's gate and up) and packed for the matrix-multiply library.
  struct packed_layer {
    kernels::gemm::matrix in_proj, out_proj, gate_up, down;
  };

  model_config config_;
  model_weights weights_;  // the embedding and the norms; the matrices live packed (packed_, lm_head_)
  std::unique_ptr<kernels::gemm> gemm_;  // its products' primitives, made once per shape
  std::vector<packed_layer> packed_;
  std::unique_ptr<scratch_pool> scratch_;  // forward passes' activations, reused
  kernels::gemm::matrix lm_head_;
};

// Greedy sampling: the most likely token, the first on ties.
int32_t greedy(std::span<const float> logits);

}  // namespace prfaas::model

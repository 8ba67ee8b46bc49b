#pragma once
// A hybrid-attention model of the Qwen3-Next family on the CPU, f32, each layer as the
// published modeling code computes it (transformers' qwen3_next / qwen3_5):
//
//   x = embed(tokens)
//   per layer:  x += mixer(norm1(x));  x += ffn(norm2(x))        norms zero-centred: scale 1 + w
//     full:     q|gate, k, v projections; q_norm, k_norm per head; partial rotary; causal GQA
//               attention over the block KV; output * sigmoid(gate); o_proj
//     linear:   Gated DeltaNet: q|k|v|z|b|a projections; short causal conv + SiLU over q, k, v
//               (conv state); l2-normalised q, k; beta = sigmoid(b); decay = exp(-exp(A_log) *
//               softplus(a + dt_bias)); the gated delta rule (recurrent state); gated RMSNorm
//               with SiLU(z); out_proj
//     ffn:      SwiGLU MLP, or a sparse MoE: softmax router, top-k (renormalised when
//               norm_topk_prob), experts' products grouped per expert, plus a shared expert
//               scaled by sigmoid(shared_expert_gate)
//   logits = lm_head(norm(x))   (tied: the embedding)
//
//   auto ck = checkpoint::open(dir);                 // or checkpoint::builtin(config)
//   hybrid_model m(ck);
//   kv::sequence_kv kv(m.config().kv_layout(), pool);
//   auto logits = m.prefill(prompt, kv, [&](int layer) { send_layer(layer); });
//   logits = m.decode_step(greedy(logits), kv);     // one position at a time after that
//
// Exact across paths: a position's arithmetic never depends on the rows beside it (products on
// fixed-shape primitives, attention and the conv per position, the delta rule recurrent in
// every pass), so a prompt prefilled whole, in chunks or after a cached prefix, and a token
// decoded alone or in a batch, get the same bits: the project compares output byte for byte.
//
// Immutable after construction: one model may serve several sequences from several threads.

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <vector>

#include "kernels/cpu/gemm.h"
#include "runtime/kv/sequence_kv.h"
#include "runtime/model/checkpoint.h"
#include "runtime/model/config.h"
#include "runtime/model/scratch_pool.h"

namespace prfaas::model {

class hybrid_model {
 public:
  // Packs the checkpoint's weights into the engine's layout; the checkpoint's mapping is kept
  // for the embedding rows (read, widened, per token).
  explicit hybrid_model(std::shared_ptr<const checkpoint> weights);
  // The built-in seeded model of this shape (checkpoint::builtin).
  explicit hybrid_model(const model_config& config);

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
  // Returns the logits, vocab per sequence in order, bit-identical to decode_step on each.
  std::vector<float> decode_batch(std::span<const int32_t> tokens, std::span<kv::sequence_kv* const> kvs) const;

 private:
  // Rows [row0, row0 + rows) of a forward pass belong to one sequence, from position `first`.
  struct segment {
    kv::sequence_kv* kv;
    int first, row0, rows;
  };
  // One layer's parameters in the engine's layout.  Projections are stacked so one product
  // computes all of a layer's inputs, their rows reordered at load so the outputs come out in
  // one canonical order whatever the checkpoint's packing:
  //   full:    [q (heads x hd) | gate (heads x hd) | k | v]
  //   linear:  [q (key heads x dk) | k | v (value heads x dv) | z | b | a]
  //   moe:     [router logits (experts) | shared gate (1) | shared expert's gate | its up]
  struct layer_params {
    layer_kind kind;
    bool moe = false;
    std::vector<float> mix_norm, ffn_norm;  // 1 + w
    kernels::gemm::matrix in_proj, out_proj;
    std::vector<float> q_norm, k_norm;      // full: 1 + w
    std::vector<float> conv;                // linear: [K][channels]
    std::vector<float> neg_a, dt_bias;      // linear: -exp(A_log), dt_bias
    std::vector<float> out_norm;            // linear: the gated norm's w
    kernels::gemm::matrix gate_up, down;    // dense FFN; MoE: the shared expert (gate_up in router)
    kernels::gemm::matrix router;           // MoE
    std::vector<kernels::gemm::matrix> expert_gate_up, expert_down;
  };

  std::vector<float> forward(std::span<const int32_t> tokens, std::span<const segment> segments,
                             const layer_hook& hook) const;
  void full_attention(const layer_params& p, int layer, const float* h, int rows, std::span<const segment> segments,
                      float* mem, float* out) const;
  void linear_attention(const layer_params& p, int layer, const float* h, int rows,
                        std::span<const segment> segments, float* mem, float* out) const;
  void dense_ffn(const layer_params& p, const float* h, int rows, float* mem, float* out) const;
  void moe_ffn(const layer_params& p, const float* h, int rows, float* mem, float* out) const;
  size_t scratch_floats(int rows, int segments) const;
  void embed(int32_t token, float* out) const;
  void pack_layer(int layer);

  std::shared_ptr<const checkpoint> weights_;
  model_config config_;
  const tensor_view* embedding_ = nullptr;  // [vocab][d], in the checkpoint's dtype
  std::vector<float> final_norm_;           // 1 + w
  std::unique_ptr<kernels::gemm> gemm_;     // its products' primitives, made once per shape
  std::vector<layer_params> layers_;
  std::unique_ptr<scratch_pool> scratch_;   // forward passes' activations, reused
  kernels::gemm::matrix lm_head_;
};

// Greedy sampling: the most likely token, the first on ties.
int32_t greedy(std::span<const float> logits);

}  // namespace prfaas::model

#include "runtime/model/hybrid_model.h"

#include <cmath>
#include <cstring>

#include "kernels/cpu/activation.h"
#include "kernels/cpu/attention.h"
#include "kernels/cpu/delta_rule.h"
#include "kernels/cpu/matmul.h"
#include "kernels/cpu/norm.h"
#include "kernels/cpu/rope.h"
#include "runtime/common/errc.h"

namespace prfaas::model {

namespace k = prfaas::kernels;

hybrid_model::hybrid_model(model_config config)
    : config_(config), weights_(make_weights(config)) {}

std::vector<float> hybrid_model::prefill(std::span<const int32_t> tokens, kv::sequence_kv& kv,
                                         const layer_hook& hook) const {
  PRFAAS_REQUIRE(!tokens.empty(), "prefill needs at least one token");
  const int first = kv.tokens(), rows = static_cast<int>(tokens.size());
  PRFAAS_REQUIRE(first + rows <= config_.max_context, "sequence longer than the model's context");
  kv.reserve(first + rows);
  // The new positions count from here on, so a layer hook sees every block they occupy.
  kv.set_tokens(first + rows);
  const segment one{&kv, first, 0, rows};
  return forward(tokens, std::span(&one, 1), hook);
}

std::vector<float> hybrid_model::decode_step(int32_t token, kv::sequence_kv& kv) const {
  return prefill(std::span<const int32_t>(&token, 1), kv, {});
}

std::vector<float> hybrid_model::decode_batch(std::span<const int32_t> tokens,
                                              std::span<kv::sequence_kv* const> kvs) const {
  PRFAAS_REQUIRE(tokens.size() == kvs.size() && !tokens.empty(), "a decode batch needs one token per sequence");
  std::vector<segment> segments;
  segments.reserve(kvs.size());
  for (size_t i = 0; i < kvs.size(); ++i) {
    auto& kv = *kvs[i];
    const int first = kv.tokens();
    PRFAAS_REQUIRE(first + 1 <= config_.max_context, "sequence longer than the model's context");
    kv.reserve(first + 1);
    kv.set_tokens(first + 1);
    segments.push_back({&kv, first, static_cast<int>(i), 1});
  }
  return forward(tokens, segments, {});
}

std::vector<float> hybrid_model::forward(std::span<const int32_t> tokens, std::span<const segment> segments,
                                         const layer_hook& hook) const {
  const auto& c = config_;
  const int rows = static_cast<int>(tokens.size());
  const long d = c.d_model;

  std::vector<float> x(rows * d), h(rows * d), mix(rows * d);
  std::vector<float> gate(static_cast<size_t>(rows) * c.ffn_dim), up(gate.size());
  for (int r = 0; r < rows; ++r) {
    PRFAAS_REQUIRE(tokens[r] >= 0 && tokens[r] < c.vocab, "token id out of range");
    std::memcpy(&x[r * d], &weights_.embedding[tokens[r] * d], d * sizeof(float));
  }
  for (int l = 0; l < c.n_layers; ++l) {
    const auto& w = weights_.layers[l];
    k::rms_norm(x.data(), w.attn_norm.data(), h.data(), rows, c.d_model, c.norm_eps);
    if (w.kind == layer_kind::full)
      full_attention(l, h.data(), rows, segments, mix.data());
    else
      linear_attention(l, h.data(), rows, segments, mix.data());
    for (long i = 0; i < rows * d; ++i) x[i] += mix[i];

    k::rms_norm(x.data(), w.ffn_norm.data(), h.data(), rows, c.d_model, c.norm_eps);
    k::matmul(h.data(), w.w_gate.data(), gate.data(), rows, c.d_model, c.ffn_dim);
    k::matmul(h.data(), w.w_up.data(), up.data(), rows, c.d_model, c.ffn_dim);
    k::swiglu(gate.data(), up.data(), gate.data(), static_cast<long>(gate.size()));
    k::matmul(gate.data(), w.w_down.data(), mix.data(), rows, c.ffn_dim, c.d_model);
    for (long i = 0; i < rows * d; ++i) x[i] += mix[i];
    if (hook) hook(l);
  }

  // Only each sequence's last position's logits are needed to sample its next token.
  const int n = static_cast<int>(segments.size());
  std::vector<float> last(n * d), logits(static_cast<size_t>(n) * c.vocab);
  for (int i = 0; i < n; ++i) {
    const int row = segments[i].row0 + segments[i].rows - 1;
    k::rms_norm(&x[row * d], weights_.final_norm.data(), &last[i * d], 1, c.d_model, c.norm_eps);
  }
  k::matmul(last.data(), weights_.lm_head.data(), logits.data(), n, c.d_model, c.vocab);
  return logits;
}

void hybrid_model::full_attention(int layer, const float* h, int rows, std::span<const segment> segments,
                                  float* out) const {
  const auto& c = config_;
  const auto& w = weights_.layers[layer];
  const int q_dim = c.heads * c.head_dim, kv_dim = c.kv_heads * c.head_dim;
  std::vector<float> q(static_cast<size_t>(rows) * q_dim), kk(static_cast<size_t>(rows) * kv_dim),
      vv(kk.size()), att(q.size());
  k::matmul(h, w.wq.data(), q.data(), rows, c.d_model, q_dim);
  k::matmul(h, w.wk.data(), kk.data(), rows, c.d_model, kv_dim);
  k::matmul(h, w.wv.data(), vv.data(), rows, c.d_model, kv_dim);
  const long v_offset = static_cast<long>(c.block_tokens) * kv_dim;
  for (const auto& s : segments) {
    float* q_s = &q[static_cast<size_t>(s.row0) * q_dim];
    float* k_s = &kk[static_cast<size_t>(s.row0) * kv_dim];
    k::rope(q_s, s.rows, c.heads, c.head_dim, s.first, c.rope_theta);
    k::rope(k_s, s.rows, c.kv_heads, c.head_dim, s.first, c.rope_theta);
    // Write K and V of each new position into its block.
    const auto& blocks = s.kv->blocks(layer);
    for (int r = 0; r < s.rows; ++r) {
      const int pos = s.first + r;
      float* block = blocks[pos / c.block_tokens];
      const long slot = static_cast<long>(pos % c.block_tokens) * kv_dim;
      std::memcpy(block + slot, &kk[static_cast<size_t>(s.row0 + r) * kv_dim], kv_dim * sizeof(float));
      std::memcpy(block + v_offset + slot, &vv[static_cast<size_t>(s.row0 + r) * kv_dim], kv_dim * sizeof(float));
    }
    const k::kv_block_view view{blocks.data(), c.block_tokens, c.kv_heads, c.head_dim};
    k::attend_causal(q_s, s.rows, c.heads, view, s.first, &att[static_cast<size_t>(s.row0) * q_dim]);
  }
  k::matmul(att.data(), w.wo.data(), out, rows, q_dim, c.d_model);
}

void hybrid_model::linear_attention(int layer, const float* h, int rows, std::span<const segment> segments,
                                    float* out) const {
  const auto& c = config_;
  const auto& w = weights_.layers[layer];
  const int qk_dim = c.linear_heads * c.linear_key_dim, v_dim = c.linear_heads * c.linear_value_dim;
  std::vector<float> q(static_cast<size_t>(rows) * qk_dim), kk(q.size()),
      vv(static_cast<size_t>(rows) * v_dim), att(vv.size()),
      alpha(static_cast<size_t>(rows) * c.linear_heads), beta(alpha.size());
  k::matmul(h, w.wq.data(), q.data(), rows, c.d_model, qk_dim);
  k::matmul(h, w.wk.data(), kk.data(), rows, c.d_model, qk_dim);
  k::matmul(h, w.wv.data(), vv.data(), rows, c.d_model, v_dim);
  k::matmul(h, w.w_alpha.data(), alpha.data(), rows, c.d_model, c.linear_heads);
  k::matmul(h, w.w_beta.data(), beta.data(), rows, c.d_model, c.linear_heads);
  // A +3 bias keeps the forget gate near 0.95: the state remembers across tens of tokens.
  for (auto& a : alpha) a += 3.0f;
  k::sigmoid(alpha.data(), static_cast<long>(alpha.size()));
  k::sigmoid(beta.data(), static_cast<long>(beta.size()));
  k::l2_normalize(q.data(), rows * c.linear_heads, c.linear_key_dim, 1e-6f);
  k::l2_normalize(kk.data(), rows * c.linear_heads, c.linear_key_dim, 1e-6f);
  for (const auto& s : segments) {
    const size_t r = static_cast<size_t>(s.row0);
    k::gated_delta_rule(s.kv->linear_state(layer), &q[r * qk_dim], &kk[r * qk_dim], &vv[r * v_dim],
                        &alpha[r * c.linear_heads], &beta[r * c.linear_heads], s.rows, c.linear_heads,
                        c.linear_key_dim, c.linear_value_dim, &att[r * v_dim]);
  }
  k::matmul(att.data(), w.wo.data(), out, rows, v_dim, c.d_model);
}

int32_t greedy(std::span<const float> logits) {
  return k::argmax(logits.data(), static_cast<int>(logits.size()));
}

}  // namespace prfaas::model

#include "runtime/model/hybrid_model.h"

#include <cmath>
#include <algorithm>
#include <cstring>
#include <initializer_list>

#include "kernels/cpu/activation.h"
#include "kernels/cpu/attention.h"
#include "kernels/cpu/delta_rule.h"
#include "kernels/cpu/gemm.h"
#include "kernels/cpu/norm.h"
#include "kernels/cpu/rope.h"
#include "runtime/common/errc.h"

namespace prfaas::model {

namespace k = prfaas::kernels;

hybrid_model::hybrid_model(model_config config)
    : config_(config),
      weights_(make_weights(config)),
      gemm_(std::make_unique<kernels::gemm>()),
      scratch_(std::make_unique<scratch_pool>(4)) {
  const auto& c = config_;
  for (auto& w : weights_.layers) {
    packed_layer p;
    if (w.kind == layer_kind::full) {
      p.in_proj = gemm_->pack(stack_rows({&w.wq, &w.wk, &w.wv}).data(), c.d_model,
                              c.heads * c.head_dim + 2 * c.kv_heads * c.head_dim);
      p.out_proj = gemm_->pack(w.wo.data(), c.heads * c.head_dim, c.d_model);
    } else {
      const int qk = c.linear_heads * c.linear_key_dim, v = c.linear_heads * c.linear_value_dim;
      p.in_proj = gemm_->pack(stack_rows({&w.wq, &w.wk, &w.wv, &w.w_alpha, &w.w_beta}).data(), c.d_model,
                              2 * qk + v + 2 * c.linear_heads);
      p.out_proj = gemm_->pack(w.wo.data(), v, c.d_model);
    }
    p.gate_up = gemm_->pack(stack_rows({&w.w_gate, &w.w_up}).data(), c.d_model, 2 * c.ffn_dim);
    p.down = gemm_->pack(w.w_down.data(), c.ffn_dim, c.d_model);
    packed_.push_back(std::move(p));
    // The packed copies are the ones used: the plain matrices go (the norms stay).
    for (auto* m : {&w.wq, &w.wk, &w.wv, &w.wo, &w.w_alpha, &w.w_beta, &w.w_gate, &w.w_up, &w.w_down})
      std::vector<float>().swap(*m);
  }
  lm_head_ = gemm_->pack(weights_.lm_head.data(), c.d_model, c.vocab);
  std::vector<float>().swap(weights_.lm_head);
}

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

namespace {

// x += y over rows of d (the residual).
void add_rows(float* x, const float* y, int rows, long d) {
#pragma omp parallel for schedule(static) if (rows > 64)
  for (int r = 0; r < rows; ++r)
    for (long i = r * d; i < (r + 1) * d; ++i) x[i] += y[i];
}

}  // namespace

std::vector<float> hybrid_model::forward(std::span<const int32_t> tokens, std::span<const segment> segments,
                                         const layer_hook& hook) const {
  const auto& c = config_;
  const int rows = static_cast<int>(tokens.size());
  const long d = c.d_model, f = c.ffn_dim;
  const size_t r = static_cast<size_t>(rows);
  auto mem = scratch_->acquire(r * (3 * d + 3 * f) + r * mixer_floats());
  float* x = mem.take(r * d);
  float* h = mem.take(r * d);
  float* mix = mem.take(r * d);
  float* gate_up = mem.take(r * 2 * f);
  float* act = mem.take(r * f);
  float* mixer = mem.take(r * mixer_floats());
  for (int i = 0; i < rows; ++i) {
    PRFAAS_REQUIRE(tokens[i] >= 0 && tokens[i] < c.vocab, "token id out of range");
    std::memcpy(&x[i * d], &weights_.embedding[tokens[i] * d], d * sizeof(float));
  }
  for (int l = 0; l < c.n_layers; ++l) {
    const auto& w = weights_.layers[l];
    const auto& p = packed_[l];
    k::rms_norm(x, w.attn_norm.data(), h, rows, c.d_model, c.norm_eps);
    if (w.kind == layer_kind::full)
      full_attention(l, h, rows, segments, mixer, mix);
    else
      linear_attention(l, h, rows, segments, mixer, mix);
    add_rows(x, mix, rows, d);

    k::rms_norm(x, w.ffn_norm.data(), h, rows, c.d_model, c.norm_eps);
    gemm_->multiply(h, p.gate_up, gate_up, rows);  // each row: [gate | up]
#pragma omp parallel for schedule(static) if (rows > 64)
    for (int i = 0; i < rows; ++i) k::swiglu(&gate_up[i * 2 * f], &gate_up[i * 2 * f + f], &act[i * f], f);
    gemm_->multiply(act, p.down, mix, rows);
    add_rows(x, mix, rows, d);
    if (hook) hook(l);
  }

  // Only each sequence's last position's logits are needed to sample its next token.
  const int n = static_cast<int>(segments.size());
  std::vector<float> last(n * d), logits(static_cast<size_t>(n) * c.vocab);
  for (int i = 0; i < n; ++i) {
    const int row = segments[i].row0 + segments[i].rows - 1;
    k::rms_norm(&x[row * d], weights_.final_norm.data(), &last[i * d], 1, c.d_model, c.norm_eps);
  }
  gemm_->multiply(last.data(), lm_head_, logits.data(), n);
  return logits;
}

size_t hybrid_model::mixer_floats() const {
  const auto& c = config_;
  const size_t q = c.heads * c.head_dim, kv = c.kv_heads * c.head_dim;
  const size_t qk = c.linear_heads * c.linear_key_dim, v = c.linear_heads * c.linear_value_dim;
  const size_t full = 2 * (q + 2 * kv) + q;              // projections, split q/k/v, output
  const size_t linear = 2 * (2 * qk + v + 2 * c.linear_heads) + v;
  return std::max(full, linear);
}

namespace {

// Runs `work` for every segment.  Sequences of a decode batch run side by side, one thread each
// (the kernels' own parallel regions nest to one thread); a lone sequence (a prefill, or a batch
// of one) runs outside any region, so the kernels spread it over the threads.  (A region of one
// thread around it would make theirs nested: libgomp then builds a fresh team for each.)
template <typename Segment, typename Work>
void for_each_segment(std::span<const Segment> segments, const Work& work) {
  const int n = static_cast<int>(segments.size());
  if (n == 1) {
    work(segments[0]);
    return;
  }
#pragma omp parallel for schedule(dynamic, 1)
  for (int i = 0; i < n; ++i) work(segments[i]);
}

// A stacked product's output, [rows][sum of widths], split into its parts, each [rows][width],
// in order: each part's columns start where the previous part's end.
struct column_part {
  float* out;
  int width;
};
void split_columns(const float* all, int rows, std::initializer_list<column_part> parts) {
  int cols = 0;
  for (const auto& p : parts) cols += p.width;
#pragma omp parallel for schedule(static) if (rows > 64)
  for (int r = 0; r < rows; ++r) {
    int from = 0;
    for (const auto& p : parts) {
      std::memcpy(p.out + static_cast<long>(r) * p.width, all + static_cast<long>(r) * cols + from, p.width * sizeof(float));
      from += p.width;
    }
  }
}

}  // namespace

void hybrid_model::full_attention(int layer, const float* h, int rows, std::span<const segment> segments,
                                  float* mem, float* out) const {
  const auto& c = config_;
  const auto& p = packed_[layer];
  const int q_dim = c.heads * c.head_dim, kv_dim = c.kv_heads * c.head_dim, cols = q_dim + 2 * kv_dim;
  const size_t r_all = static_cast<size_t>(rows);
  float* proj = mem;
  float* q = proj + r_all * cols;
  float* kk = q + r_all * q_dim;
  float* vv = kk + r_all * kv_dim;
  float* att = vv + r_all * kv_dim;
  gemm_->multiply(h, p.in_proj, proj, rows);  // each row: [q | k | v]
  split_columns(proj, rows, {{q, q_dim}, {kk, kv_dim}, {vv, kv_dim}});
  for_each_segment(segments, [&](const segment& s) {
    float* q_s = &q[static_cast<size_t>(s.row0) * q_dim];
    float* k_s = &kk[static_cast<size_t>(s.row0) * kv_dim];
    k::rope(q_s, s.rows, c.heads, c.head_dim, s.first, c.rope_theta);
    k::rope(k_s, s.rows, c.kv_heads, c.head_dim, s.first, c.rope_theta);
    // Write K and V of each new position into its block.
    const auto& blocks = s.kv->blocks(layer);
    for (int r = 0; r < s.rows; ++r) {
      const int pos = s.first + r;
      k::store_kv(blocks[pos / c.block_tokens], pos % c.block_tokens, &kk[static_cast<size_t>(s.row0 + r) * kv_dim],
                  &vv[static_cast<size_t>(s.row0 + r) * kv_dim], c.block_tokens, c.kv_heads, c.head_dim);
    }
    const k::kv_block_view view{blocks.data(), c.block_tokens, c.kv_heads, c.head_dim};
    k::attend_causal(q_s, s.rows, c.heads, view, s.first, &att[static_cast<size_t>(s.row0) * q_dim]);
  });
  gemm_->multiply(att, p.out_proj, out, rows);
}

void hybrid_model::linear_attention(int layer, const float* h, int rows, std::span<const segment> segments,
                                    float* mem, float* out) const {
  const auto& c = config_;
  const auto& p = packed_[layer];
  const int lh = c.linear_heads;
  const int qk_dim = lh * c.linear_key_dim, v_dim = lh * c.linear_value_dim, cols = 2 * qk_dim + v_dim + 2 * lh;
  const size_t r_all = static_cast<size_t>(rows);
  float* proj = mem;
  float* q = proj + r_all * cols;
  float* kk = q + r_all * qk_dim;
  float* vv = kk + r_all * qk_dim;
  float* alpha = vv + r_all * v_dim;
  float* beta = alpha + r_all * lh;
  float* att = beta + r_all * lh;
  gemm_->multiply(h, p.in_proj, proj, rows);  // each row: [q | k | v | alpha | beta]
  split_columns(proj, rows, {{q, qk_dim}, {kk, qk_dim}, {vv, v_dim}, {alpha, lh}, {beta, lh}});
  // A +3 bias keeps the forget gate near 0.95: the state remembers across tens of tokens.
  for (size_t i = 0; i < r_all * lh; ++i) alpha[i] += 3.0f;
  k::sigmoid(alpha, static_cast<long>(r_all * lh));
  k::sigmoid(beta, static_cast<long>(r_all * lh));
  k::l2_normalize(q, rows * lh, c.linear_key_dim, 1e-6f);
  k::l2_normalize(kk, rows * lh, c.linear_key_dim, 1e-6f);
  for_each_segment(segments, [&](const segment& s) {
    const size_t r = static_cast<size_t>(s.row0);
    k::gated_delta_rule(s.kv->linear_state(layer), &q[r * qk_dim], &kk[r * qk_dim], &vv[r * v_dim],
                        &alpha[r * lh], &beta[r * lh], s.rows, lh, c.linear_key_dim, c.linear_value_dim,
                        &att[r * v_dim]);
  });
  gemm_->multiply(att, p.out_proj, out, rows);
}

int32_t greedy(std::span<const float> logits) {
  return k::argmax(logits.data(), static_cast<int>(logits.size()));
}

}  // namespace prfaas::model

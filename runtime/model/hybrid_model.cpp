#include "runtime/model/hybrid_model.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernels/cpu/activation.h"
#include "kernels/cpu/attention.h"
#include "kernels/cpu/conv.h"
#include "kernels/cpu/delta_rule.h"
#include "kernels/cpu/gemm.h"
#include "kernels/cpu/norm.h"
#include "kernels/cpu/rope.h"
#include "kernels/cpu/threads.h"
#include "runtime/common/errc.h"
#include "runtime/model/tensor_names.h"

namespace prfaas::model {

namespace k = prfaas::kernels;

namespace {

// Rows of checkpoint tensors gathered, in order, into one [rows][in] f32 matrix.
struct row_range {
  const tensor_view* t;
  int64_t first, count;
};
std::vector<float> gather_rows(const std::vector<row_range>& ranges, int64_t in) {
  int64_t rows = 0;
  for (const auto& r : ranges) rows += r.count;
  std::vector<float> out(static_cast<size_t>(rows * in));
  int64_t at = 0;
  for (const auto& r : ranges) {
    r.t->rows_to_f32(r.first, r.count, &out[at * in]);
    at += r.count;
  }
  return out;
}
std::vector<float> gather_rows(std::initializer_list<row_range> ranges, int64_t in) {
  return gather_rows(std::vector<row_range>(ranges), in);
}

std::vector<float> vector_of(const tensor_view& t) {
  std::vector<float> v(static_cast<size_t>(t.elements()));
  t.to_f32(v.data());
  return v;
}
std::vector<float> one_plus(const tensor_view& t) {
  auto v = vector_of(t);
  for (auto& x : v) x = 1.0f + x;
  return v;
}

float silu(float x) { return x / (1.0f + std::exp(-x)); }
float sigmoid(float x) { return 1.0f / (1.0f + std::exp(-x)); }
float softplus(float x) { return x > 20.0f ? x : std::log1p(std::exp(x)); }  // torch's threshold

// x += y over rows of d (the residual).
void add_rows(float* x, const float* y, int rows, long d) {
#pragma omp parallel for schedule(static) if (rows > 64)
  for (int r = 0; r < rows; ++r)
    for (long i = r * d; i < (r + 1) * d; ++i) x[i] += y[i];
}

// Runs `work` for every segment.  Sequences of a decode batch run side by side, one thread each
// (the kernels' own parallel regions nest to one thread); a lone sequence (a prefill, or a batch
// of one) runs outside any region, so the kernels spread it over the threads.
template <typename Segment, typename Work>
void for_each_segment(std::span<const Segment> segments, const Work& work) {
  const int n = static_cast<int>(segments.size());
  if (n == 1) {
    work(segments[0], 0);
    return;
  }
#pragma omp parallel for schedule(dynamic, 1)
  for (int i = 0; i < n; ++i) work(segments[i], i);
}

// A stacked product's output, [rows][cols], split into contiguous parts [rows][width] taken from
// column `from` of each row.
struct column_part {
  float* out;
  int from, width;
};
void split_columns(const float* all, int rows, int cols, std::initializer_list<column_part> parts) {
#pragma omp parallel for schedule(static) if (rows > 64)
  for (int r = 0; r < rows; ++r)
    for (const auto& p : parts)
      std::memcpy(p.out + static_cast<long>(r) * p.width, all + static_cast<long>(r) * cols + p.from,
                  p.width * sizeof(float));
}

}  // namespace

hybrid_model::hybrid_model(const model_config& config)
    : hybrid_model(std::make_shared<const checkpoint>(checkpoint::builtin(config))) {}

hybrid_model::hybrid_model(std::shared_ptr<const checkpoint> weights)
    : weights_(std::move(weights)),
      config_(weights_->config()),
      gemm_(std::make_unique<kernels::gemm>()),
      scratch_(std::make_unique<scratch_pool>(4)) {
  const auto& c = config_;
  const std::string prefix = tensor_prefix(c.arch);
  embedding_ = &weights_->tensor(prefix + "embed_tokens.weight");
  final_norm_ = one_plus(weights_->tensor(prefix + "norm.weight"));
  for (int l = 0; l < c.n_layers; ++l) pack_layer(l);
  const tensor_view& head = c.tie_embeddings ? *embedding_ : weights_->tensor("lm_head.weight");
  lm_head_ = gemm_->pack(gather_rows({{&head, 0, c.vocab}}, c.d_model).data(), c.d_model, c.vocab);
  weights_->release_pages();  // every matrix is packed: only the embedding's rows are read again
}

void hybrid_model::pack_layer(int l) {
  const auto& c = config_;
  const int64_t d = c.d_model;
  const std::string p = tensor_prefix(c.arch) + "layers." + std::to_string(l) + ".";
  auto t = [&](const std::string& name) { return &weights_->tensor(p + name); };
  layer_params lp;
  lp.kind = c.kind(l);
  lp.moe = c.moe(l);
  lp.mix_norm = one_plus(*t("input_layernorm.weight"));
  lp.ffn_norm = one_plus(*t("post_attention_layernorm.weight"));
  if (lp.kind == layer_kind::full) {
    const int hd = c.head_dim, q_dim = c.heads * hd, kv_dim = c.kv_heads * hd;
    // q_proj holds [query | gate] per head; the canonical order puts every query first.
    std::vector<row_range> rows;
    const auto* q = t("self_attn.q_proj.weight");
    for (int h = 0; h < c.heads; ++h) rows.push_back({q, int64_t{2} * h * hd, hd});
    for (int h = 0; h < c.heads; ++h) rows.push_back({q, int64_t{2} * h * hd + hd, hd});
    rows.push_back({t("self_attn.k_proj.weight"), 0, kv_dim});
    rows.push_back({t("self_attn.v_proj.weight"), 0, kv_dim});
    lp.in_proj = gemm_->pack(gather_rows(rows, d).data(), d, 2 * q_dim + 2 * kv_dim);
    lp.out_proj = gemm_->pack(gather_rows({{t("self_attn.o_proj.weight"), 0, d}}, q_dim).data(), q_dim, d);
    lp.q_norm = one_plus(*t("self_attn.q_norm.weight"));
    lp.k_norm = one_plus(*t("self_attn.k_norm.weight"));
  } else {
    const int kh = c.key_heads(), vh = c.linear_heads, dk = c.linear_key_dim, dv = c.linear_value_dim;
    const int ratio = vh / kh, kd = kh * dk, vd = vh * dv;
    std::vector<row_range> rows;
    if (c.arch == architecture::qwen3_next) {
      // in_proj_qkvz is grouped per key head: [q_g | k_g | v_g (ratio heads) | z_g (ratio heads)],
      // in_proj_ba likewise [b_g | a_g]; gather each kind across the groups.
      const auto* qkvz = t("linear_attn.in_proj_qkvz.weight");
      const auto* ba = t("linear_attn.in_proj_ba.weight");
      const int64_t group = 2 * dk + 2 * ratio * dv;
      for (int part = 0; part < 4; ++part)
        for (int g = 0; g < kh; ++g) {
          const int64_t offsets[4] = {0, dk, 2 * dk, 2 * dk + int64_t{ratio} * dv};
          const int64_t counts[4] = {dk, dk, int64_t{ratio} * dv, int64_t{ratio} * dv};
          rows.push_back({qkvz, g * group + offsets[part], counts[part]});
        }
      for (int part = 0; part < 2; ++part)
        for (int g = 0; g < kh; ++g) rows.push_back({ba, int64_t{g} * 2 * ratio + part * ratio, ratio});
    } else {
      rows = {{t("linear_attn.in_proj_qkv.weight"), 0, 2 * kd + vd},
              {t("linear_attn.in_proj_z.weight"), 0, vd},
              {t("linear_attn.in_proj_b.weight"), 0, vh},
              {t("linear_attn.in_proj_a.weight"), 0, vh}};
    }
    lp.in_proj = gemm_->pack(gather_rows(rows, d).data(), d, 2 * kd + 2 * vd + 2 * vh);
    lp.out_proj = gemm_->pack(gather_rows({{t("linear_attn.out_proj.weight"), 0, d}}, vd).data(), vd, d);
    // conv1d.weight [channels][1][K] -> tap-major [K][channels].
    const auto conv = vector_of(*t("linear_attn.conv1d.weight"));
    const int ch = c.conv_channels(), kk = c.conv_kernel;
    lp.conv.resize(conv.size());
    for (int ci = 0; ci < ch; ++ci)
      for (int j = 0; j < kk; ++j) lp.conv[static_cast<size_t>(j) * ch + ci] = conv[static_cast<size_t>(ci) * kk + j];
    lp.neg_a = vector_of(*t("linear_attn.A_log"));
    for (auto& x : lp.neg_a) x = -std::exp(x);
    lp.dt_bias = vector_of(*t("linear_attn.dt_bias"));
    lp.out_norm = vector_of(*t("linear_attn.norm.weight"));
  }
  if (lp.moe) {
    const int64_t f = c.expert_ffn_dim, fs = c.shared_expert_ffn_dim;
    if (fs > 0)
      lp.router = gemm_->pack(gather_rows({{t("mlp.gate.weight"), 0, c.experts},
                                           {t("mlp.shared_expert_gate.weight"), 0, 1},
                                           {t("mlp.shared_expert.gate_proj.weight"), 0, fs},
                                           {t("mlp.shared_expert.up_proj.weight"), 0, fs}},
                                          d).data(),
                              d, c.experts + 1 + 2 * fs);
    else
      lp.router = gemm_->pack(gather_rows({{t("mlp.gate.weight"), 0, c.experts}}, d).data(), d, c.experts);
    if (fs > 0) lp.down = gemm_->pack(gather_rows({{t("mlp.shared_expert.down_proj.weight"), 0, d}}, fs).data(), fs, d);
    for (int e = 0; e < c.experts; ++e) {
      const std::string ep = "mlp.experts." + std::to_string(e) + ".";
      lp.expert_gate_up.push_back(
          gemm_->pack(gather_rows({{t(ep + "gate_proj.weight"), 0, f}, {t(ep + "up_proj.weight"), 0, f}}, d).data(), d, 2 * f));
      lp.expert_down.push_back(gemm_->pack(gather_rows({{t(ep + "down_proj.weight"), 0, d}}, f).data(), f, d));
    }
  } else {
    const int64_t f = c.ffn_dim;
    lp.gate_up = gemm_->pack(gather_rows({{t("mlp.gate_proj.weight"), 0, f}, {t("mlp.up_proj.weight"), 0, f}}, d).data(), d, 2 * f);
    lp.down = gemm_->pack(gather_rows({{t("mlp.down_proj.weight"), 0, d}}, f).data(), f, d);
  }
  layers_.push_back(std::move(lp));
}

void hybrid_model::embed(int32_t token, float* out) const { embedding_->rows_to_f32(token, 1, out); }

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

size_t hybrid_model::scratch_floats(int rows, int segments) const {
  const auto& c = config_;
  const size_t r = static_cast<size_t>(rows);
  const size_t q = c.heads * c.head_dim, kv = c.kv_heads * c.head_dim;
  const size_t kd = c.key_heads() * c.linear_key_dim, vd = c.linear_heads * c.linear_value_dim, vh = c.linear_heads;
  const size_t full = r * (2 * (2 * q + 2 * kv) + q);  // projections, split parts, output
  const size_t linear = r * ((2 * kd + 2 * vd + 2 * vh) + 2 * vh + vd) +
                        (r + static_cast<size_t>(segments) * (c.conv_kernel - 1)) * c.conv_channels();
  size_t ffn = r * 3 * c.ffn_dim;
  if (c.experts > 0) {
    const size_t f = c.expert_ffn_dim, fs = c.shared_expert_ffn_dim;
    ffn = std::max(ffn, r * (c.experts + 1 + 2 * fs + fs + 2 * c.d_model + 3 * f + 2 * c.d_model) + r * c.experts);
  }
  return std::max({full, linear, ffn});
}

std::vector<float> hybrid_model::forward(std::span<const int32_t> tokens, std::span<const segment> segments,
                                         const layer_hook& hook) const {
  kernels::cpu::apply_compute_threads();  // node.threads, on whichever thread computes
  const auto& c = config_;
  const int rows = static_cast<int>(tokens.size());
  const long d = c.d_model;
  const size_t r = static_cast<size_t>(rows);
  const size_t work = scratch_floats(rows, static_cast<int>(segments.size()));
  auto mem = scratch_->acquire(r * 3 * d + work);
  float* x = mem.take(r * d);
  float* h = mem.take(r * d);
  float* mix = mem.take(r * d);
  float* scratch = mem.take(work);
  for (int i = 0; i < rows; ++i) {
    PRFAAS_REQUIRE(tokens[i] >= 0 && tokens[i] < c.vocab, "token id out of range");
    embed(tokens[i], &x[i * d]);
  }
  for (int l = 0; l < c.n_layers; ++l) {
    const auto& p = layers_[l];
    k::rms_norm(x, p.mix_norm.data(), h, rows, c.d_model, c.norm_eps);
    if (p.kind == layer_kind::full)
      full_attention(p, l, h, rows, segments, scratch, mix);
    else
      linear_attention(p, l, h, rows, segments, scratch, mix);
    add_rows(x, mix, rows, d);
    k::rms_norm(x, p.ffn_norm.data(), h, rows, c.d_model, c.norm_eps);
    if (p.moe)
      moe_ffn(p, h, rows, scratch, mix);
    else
      dense_ffn(p, h, rows, scratch, mix);
    add_rows(x, mix, rows, d);
    if (hook) hook(l);
  }
  // Only each sequence's last position's logits are needed to sample its next token.
  const int n = static_cast<int>(segments.size());
  std::vector<float> last(n * d), logits(static_cast<size_t>(n) * c.vocab);
  for (int i = 0; i < n; ++i) {
    const int row = segments[i].row0 + segments[i].rows - 1;
    k::rms_norm(&x[row * d], final_norm_.data(), &last[i * d], 1, c.d_model, c.norm_eps);
  }
  gemm_->multiply(last.data(), lm_head_, logits.data(), n);
  return logits;
}

void hybrid_model::full_attention(const layer_params& p, int layer, const float* h, int rows,
                                  std::span<const segment> segments, float* mem, float* out) const {
  const auto& c = config_;
  const int hd = c.head_dim, q_dim = c.heads * hd, kv_dim = c.kv_heads * hd, cols = 2 * q_dim + 2 * kv_dim;
  const size_t r_all = static_cast<size_t>(rows);
  float* proj = mem;
  float* q = proj + r_all * cols;
  float* gate = q + r_all * q_dim;
  float* kk = gate + r_all * q_dim;
  float* vv = kk + r_all * kv_dim;
  float* att = vv + r_all * kv_dim;
  gemm_->multiply(h, p.in_proj, proj, rows);  // each row: [q | gate | k | v]
  split_columns(proj, rows, cols, {{q, 0, q_dim}, {gate, q_dim, q_dim}, {kk, 2 * q_dim, kv_dim}, {vv, 2 * q_dim + kv_dim, kv_dim}});
  k::rms_norm(q, p.q_norm.data(), q, rows * c.heads, hd, c.norm_eps);
  k::rms_norm(kk, p.k_norm.data(), kk, rows * c.kv_heads, hd, c.norm_eps);
  for_each_segment(segments, [&](const segment& s, int) {
    float* q_s = &q[static_cast<size_t>(s.row0) * q_dim];
    float* k_s = &kk[static_cast<size_t>(s.row0) * kv_dim];
    k::rope(q_s, s.rows, c.heads, hd, c.rotary_dim(), s.first, c.rope_theta);
    k::rope(k_s, s.rows, c.kv_heads, hd, c.rotary_dim(), s.first, c.rope_theta);
    // Write K and V of each new position into its block.
    const auto& blocks = s.kv->blocks(layer);
    for (int r = 0; r < s.rows; ++r) {
      const int pos = s.first + r;
      k::store_kv(blocks[pos / c.block_tokens], pos % c.block_tokens, &kk[static_cast<size_t>(s.row0 + r) * kv_dim],
                  &vv[static_cast<size_t>(s.row0 + r) * kv_dim], c.block_tokens, c.kv_heads, hd);
    }
    const k::kv_block_view view{blocks.data(), c.block_tokens, c.kv_heads, hd};
    k::attend_causal(q_s, s.rows, c.heads, view, s.first, &att[static_cast<size_t>(s.row0) * q_dim]);
  });
  // The output gate: attention output * sigmoid(gate), element by element.
#pragma omp parallel for schedule(static) if (rows > 64)
  for (int r = 0; r < rows; ++r)
    for (long i = static_cast<long>(r) * q_dim; i < static_cast<long>(r + 1) * q_dim; ++i) att[i] *= sigmoid(gate[i]);
  gemm_->multiply(att, p.out_proj, out, rows);
}

void hybrid_model::linear_attention(const layer_params& p, int layer, const float* h, int rows,
                                    std::span<const segment> segments, float* mem, float* out) const {
  const auto& c = config_;
  const int kh = c.key_heads(), vh = c.linear_heads, dk = c.linear_key_dim, dv = c.linear_value_dim;
  const int kd = kh * dk, vd = vh * dv, ch = c.conv_channels(), cols = 2 * kd + 2 * vd + 2 * vh;
  const int hist = c.conv_kernel - 1;
  const size_t r_all = static_cast<size_t>(rows);
  float* proj = mem;  // each row: [q | k | v | z | b | a]
  float* alpha = proj + r_all * cols;
  float* beta = alpha + r_all * vh;
  float* att = beta + r_all * vh;
  float* conv_scratch = att + r_all * vd;
  gemm_->multiply(h, p.in_proj, proj, rows);
  // Decay and rate per value head: alpha = exp(-exp(A_log) * softplus(a + dt_bias)), beta = sigmoid(b).
  for (int r = 0; r < rows; ++r) {
    const float* b = proj + static_cast<long>(r) * cols + ch + vd;
    const float* a = b + vh;
    for (int i = 0; i < vh; ++i) {
      alpha[r * vh + i] = std::exp(p.neg_a[i] * softplus(a[i] + p.dt_bias[i]));
      beta[r * vh + i] = sigmoid(b[i]);
    }
  }
  for_each_segment(segments, [&](const segment& s, int index) {
    float* state = s.kv->linear_state(layer);  // [conv state | recurrent state]
    float* rows0 = proj + static_cast<long>(s.row0) * cols;
    k::causal_conv_silu(rows0, cols, s.rows, ch, p.conv.data(), c.conv_kernel, state,
                        conv_scratch + static_cast<size_t>(s.row0 + static_cast<long>(index) * hist) * ch);
    // q and k: unit length per key head, q scaled by 1/sqrt(dk) (the reference's order).
    k::l2_normalize_strided(rows0, s.rows, 2 * kh, cols, dk, 1e-6f);
    const float scale = 1.0f / std::sqrt(static_cast<float>(dk));
    for (int r = 0; r < s.rows; ++r)
      for (int i = 0; i < kd; ++i) rows0[static_cast<long>(r) * cols + i] *= scale;
    const size_t rr = static_cast<size_t>(s.row0);
    k::gated_delta_rule(state + c.conv_state_floats(), rows0, rows0 + kd, cols, kh, rows0 + 2 * kd, cols,
                        &alpha[rr * vh], &beta[rr * vh], s.rows, vh, dk, dv, &att[rr * vd]);
  });
  k::gated_rms_norm(att, proj + ch, cols, p.out_norm.data(), rows, vh, dv, c.norm_eps);
  gemm_->multiply(att, p.out_proj, out, rows);
}

void hybrid_model::dense_ffn(const layer_params& p, const float* h, int rows, float* mem, float* out) const {
  const long f = config_.ffn_dim;
  float* gate_up = mem;
  float* act = gate_up + static_cast<size_t>(rows) * 2 * f;
  gemm_->multiply(h, p.gate_up, gate_up, rows);  // each row: [gate | up]
#pragma omp parallel for schedule(static) if (rows > 64)
  for (int i = 0; i < rows; ++i) k::swiglu(&gate_up[i * 2 * f], &gate_up[i * 2 * f + f], &act[i * f], f);
  gemm_->multiply(act, p.down, out, rows);
}

void hybrid_model::moe_ffn(const layer_params& p, const float* h, int rows, float* mem, float* out) const {
  const auto& c = config_;
  const long d = c.d_model, f = c.expert_ffn_dim, fs = c.shared_expert_ffn_dim;
  const int ne = c.experts, top = c.experts_per_token;
  const long rcols = ne + (fs > 0 ? 1 + 2 * fs : 0);
  const size_t r_all = static_cast<size_t>(rows);
  float* routed = mem;                         // [rows][rcols]
  float* shared_act = routed + r_all * rcols;  // [rows][fs]
  float* xe = shared_act + r_all * fs;         // an expert's rows
  float* ye = xe + r_all * d;                  // [n][2f]
  float* ae = ye + r_all * 2 * f;              // [n][f]
  float* oe = ae + r_all * f;                  // [n][d]
  float* weights = oe + r_all * d;             // [rows][experts]: routing weight, 0 when not chosen
  gemm_->multiply(h, p.router, routed, rows);
  // Routing: softmax over the experts, the top k (ties to the lower index), renormalised.
  for (int r = 0; r < rows; ++r) {
    const float* logit = routed + r * rcols;
    float* w = weights + static_cast<long>(r) * ne;
    float mx = logit[0];
    for (int e = 1; e < ne; ++e) mx = std::max(mx, logit[e]);
    float sum = 0;
    for (int e = 0; e < ne; ++e) sum += (w[e] = std::exp(logit[e] - mx));
    for (int e = 0; e < ne; ++e) w[e] /= sum;
    std::vector<int> order(ne);
    for (int e = 0; e < ne; ++e) order[e] = e;
    std::partial_sort(order.begin(), order.begin() + top, order.end(),
                      [&](int a, int b) { return w[a] > w[b] || (w[a] == w[b] && a < b); });
    float chosen = 0;
    for (int i = 0; i < top; ++i) chosen += w[order[i]];
    std::vector<float> keep(ne, 0.0f);
    for (int i = 0; i < top; ++i) keep[order[i]] = c.norm_topk_prob ? w[order[i]] / chosen : w[order[i]];
    std::copy(keep.begin(), keep.end(), w);
  }
  std::fill(out, out + r_all * d, 0.0f);
  // Experts in index order, each over the rows routed to it (one product per expert).
  std::vector<int> members;
  for (int e = 0; e < ne; ++e) {
    members.clear();
    for (int r = 0; r < rows; ++r)
      if (weights[static_cast<long>(r) * ne + e] > 0) members.push_back(r);
    if (members.empty()) continue;
    const int n = static_cast<int>(members.size());
    for (int i = 0; i < n; ++i) std::memcpy(xe + i * d, h + members[i] * d, d * sizeof(float));
    gemm_->multiply(xe, p.expert_gate_up[e], ye, n);
    for (int i = 0; i < n; ++i) k::swiglu(&ye[i * 2 * f], &ye[i * 2 * f + f], &ae[i * f], f);
    gemm_->multiply(ae, p.expert_down[e], oe, n);
    for (int i = 0; i < n; ++i) {
      const float w = weights[static_cast<long>(members[i]) * ne + e];
      float* o = out + members[i] * d;
      for (long j = 0; j < d; ++j) o[j] += oe[i * d + j] * w;
    }
  }
  if (fs == 0) return;
  // The shared expert, scaled by sigmoid of its gate.
  for (int r = 0; r < rows; ++r) {
    const float* g = routed + r * rcols + ne + 1;
    k::swiglu(g, g + fs, &shared_act[r * fs], fs);
  }
  gemm_->multiply(shared_act, p.down, oe, rows);
  for (int r = 0; r < rows; ++r) {
    const float gate = sigmoid(routed[r * rcols + ne]);
    for (long j = 0; j < d; ++j) out[r * d + j] += gate * oe[r * d + j];
  }
}

int32_t greedy(std::span<const float> logits) {
  return k::argmax(logits.data(), static_cast<int>(logits.size()));
}

}  // namespace prfaas::model

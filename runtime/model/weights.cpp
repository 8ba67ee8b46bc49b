#include "runtime/model/weights.h"

#include <cmath>
#include <cstdint>

namespace prfaas::model {
namespace {

// splitmix64: a fixed, portable generator, so every process derives the same weights.
struct weight_rng {
  uint64_t state;
  uint64_t next() {
    uint64_t z = (state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  // Uniform in [-1, 1).
  float uniform() { return static_cast<float>(static_cast<double>(next() >> 11) * 0x1.0p-52 - 1.0); }
};

std::vector<float> matrix(weight_rng& rng, int out, int in) {
  std::vector<float> m(static_cast<size_t>(out) * in);
  const float scale = std::sqrt(3.0f / static_cast<float>(in));  // unit variance per output
  for (auto& x : m) x = rng.uniform() * scale;
  return m;
}

std::vector<float> ones(int n) { return std::vector<float>(static_cast<size_t>(n), 1.0f); }

}  // namespace

model_weights make_weights(const model_config& c) {
  c.validate();
  weight_rng rng{c.seed};
  model_weights w;
  w.embedding.resize(static_cast<size_t>(c.vocab) * c.d_model);
  for (auto& x : w.embedding) x = rng.uniform() * std::sqrt(3.0f);  // unit variance
  for (int l = 0; l < c.n_layers; ++l) {
    layer_weights lw;
    lw.kind = c.kind(l);
    lw.attn_norm = ones(c.d_model);
    if (lw.kind == layer_kind::full) {
      lw.wq = matrix(rng, c.heads * c.head_dim, c.d_model);
      lw.wk = matrix(rng, c.kv_heads * c.head_dim, c.d_model);
      lw.wv = matrix(rng, c.kv_heads * c.head_dim, c.d_model);
      lw.wo = matrix(rng, c.d_model, c.heads * c.head_dim);
    } else {
      lw.wq = matrix(rng, c.linear_heads * c.linear_key_dim, c.d_model);
      lw.wk = matrix(rng, c.linear_heads * c.linear_key_dim, c.d_model);
      lw.wv = matrix(rng, c.linear_heads * c.linear_value_dim, c.d_model);
      lw.w_alpha = matrix(rng, c.linear_heads, c.d_model);
      lw.w_beta = matrix(rng, c.linear_heads, c.d_model);
      lw.wo = matrix(rng, c.d_model, c.linear_heads * c.linear_value_dim);
    }
    for (auto& x : lw.wo) x *= 0.5f;  // damp the residual stream so deep stacks stay well scaled
    lw.ffn_norm = ones(c.d_model);
    lw.w_gate = matrix(rng, c.ffn_dim, c.d_model);
    lw.w_up = matrix(rng, c.ffn_dim, c.d_model);
    lw.w_down = matrix(rng, c.d_model, c.ffn_dim);
    for (auto& x : lw.w_down) x *= 0.5f;
    w.layers.push_back(std::move(lw));
  }
  w.final_norm = ones(c.d_model);
  w.lm_head = matrix(rng, c.vocab, c.d_model);
  return w;
}

std::vector<float> stack_rows(std::initializer_list<const std::vector<float>*> parts) {
  std::vector<float> all;
  for (const auto* p : parts) all.insert(all.end(), p->begin(), p->end());
  return all;
}

}  // namespace prfaas::model

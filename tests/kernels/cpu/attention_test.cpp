// Specification of the blocked attention kernel: the softmax attention it stands for, and a
// position's bits independent of how many positions are computed with it.

#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "kernels/cpu/attention.h"
#include "tests/support/random_floats.h"

namespace k = prfaas::kernels;
using prfaas::testing::random_floats;

namespace {

struct cache {
  int block_tokens, kv_heads, head_dim;
  std::vector<std::vector<float>> blocks;
  std::vector<const float*> pointers;

  cache(int tokens, int bt, int kvh, int dim, uint32_t seed) : block_tokens(bt), kv_heads(kvh), head_dim(dim) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> normal;
    for (int b = 0; b * bt < tokens; ++b) {
      blocks.emplace_back(k::kv_block_floats(bt, kvh, dim));
      for (auto& v : blocks.back()) v = normal(rng);
    }
    for (auto& b : blocks) pointers.push_back(b.data());
  }
  k::kv_block_view view() const { return {pointers.data(), block_tokens, kv_heads, head_dim}; }
  // Keys are stored transposed ([kv_heads][head_dim][block_tokens]): gathered here.
  std::vector<float> key(int t, int g) const {
    std::vector<float> k(head_dim);
    for (int d = 0; d < head_dim; ++d) k[d] = blocks[t / block_tokens][(static_cast<long>(g) * head_dim + d) * block_tokens + t % block_tokens];
    return k;
  }
  const float* value(int t, int g) const {
    return &blocks[t / block_tokens][static_cast<long>(block_tokens) * kv_heads * head_dim +
                                     (static_cast<long>(t % block_tokens) * kv_heads + g) * head_dim];
  }
};


}  // namespace

TEST_CASE("store_kv puts keys transposed per KV head and values by token") {
  const int bt = 8, kvh = 2, dim = 4;
  std::vector<float> block(k::kv_block_floats(bt, kvh, dim), -1.0f), key(kvh * dim), value(kvh * dim);
  for (int i = 0; i < kvh * dim; ++i) key[i] = 100.0f + i, value[i] = 200.0f + i;
  k::store_kv(block.data(), 3, key.data(), value.data(), bt, kvh, dim);
  CHECK(block[(1 * dim + 2) * bt + 3] == 100.0f + 1 * dim + 2);  // head 1, dim 2, slot 3
  CHECK(block[static_cast<size_t>(bt) * kvh * dim + 3 * kvh * dim + 5] == 205.0f);
  CHECK(block[(1 * dim + 2) * bt + 4] == -1.0f);                 // other slots untouched
}

TEST_CASE("exp_poly: exp within 2e-7 relative on the softmax's range, 0 for minus infinity, 1 at 0") {
  for (float x = -87.0f; x <= 0.0f; x += 0.013f) {
    INFO("x " << x);
    CHECK(std::fabs(k::exp_poly(x) - std::exp(x)) <= 2e-7f * std::exp(x));
  }
  CHECK(k::exp_poly(-INFINITY) == 0.0f);
  CHECK(k::exp_poly(0.0f) == 1.0f);
}

TEST_CASE("attend_causal: softmax(q K^T / sqrt(d)) V over each query's own prefix, grouped heads") {
  const auto [dim, bt] = GENERATE(std::make_pair(64, 64), std::make_pair(32, 16));
  const int heads = 4, kv_heads = 2, rows = 150, first = 7;
  const cache c(first + rows, bt, kv_heads, dim, 1);
  const auto q = random_floats(static_cast<size_t>(rows) * heads * dim, 2);
  std::vector<float> out(q.size());
  k::attend_causal(q.data(), rows, heads, c.view(), first, out.data());
  for (int r = 0; r < rows; ++r)
    for (int h = 0; h < heads; ++h) {
      const int g = h / (heads / kv_heads), context = first + r + 1;
      const float* qh = &q[(static_cast<size_t>(r) * heads + h) * dim];
      std::vector<double> score(context);
      double top = -1e300, sum = 0;
      for (int t = 0; t < context; ++t) {
        double s = 0;
        const auto key = c.key(t, g);
        for (int d = 0; d < dim; ++d) s += double(qh[d]) * key[d];
        score[t] = s / std::sqrt(double(dim));
        top = std::max(top, score[t]);
      }
      for (auto& s : score) sum += (s = std::exp(s - top));
      for (int d = 0; d < dim; ++d) {
        double want = 0;
        for (int t = 0; t < context; ++t) want += score[t] / sum * c.value(t, g)[d];
        INFO("row " << r << " head " << h << " dim " << d);
        CHECK(out[(static_cast<size_t>(r) * heads + h) * dim + d] == Approx(want).margin(1e-4));
      }
    }
}

TEST_CASE("attend_causal: a position's output has the same bits alone, in a tile, or in a long prefill") {
  // The default model's shape (its vectorised path) and the test model's (the general one).
  const auto [dim, bt] = GENERATE(std::make_pair(64, 64), std::make_pair(16, 8));
  const int heads = 4, kv_heads = 2, rows = 300;
  const cache c(rows, bt, kv_heads, dim, 3);
  const auto q = random_floats(static_cast<size_t>(rows) * heads * dim, 4);
  const long stride = static_cast<long>(heads) * dim;
  std::vector<float> whole(q.size());
  k::attend_causal(q.data(), rows, heads, c.view(), 0, whole.data());
  for (const int first : {0, 1, 63, 64, 65, 130, 299}) {
    for (const int n : {1, 5, 40}) {
      if (first + n > rows) continue;
      std::vector<float> part(static_cast<size_t>(n) * stride);
      k::attend_causal(&q[first * stride], n, heads, c.view(), first, part.data());
      INFO(n << " positions from " << first);
      CHECK(std::memcmp(part.data(), &whole[first * stride], part.size() * sizeof(float)) == 0);
    }
  }
}

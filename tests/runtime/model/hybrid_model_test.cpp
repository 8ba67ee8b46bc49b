// Specification of the hybrid model: deterministic, layer-wise, and position-consistent, with a
// dense FFN and with a mixture of experts (grouped key heads, a short conv) alike.

#include <catch2/catch.hpp>

#include <cstring>
#include <memory>

#include "runtime/common/errc.h"
#include "tests/support/small_model.h"
#include "runtime/model/generate.h"
#include "runtime/model/hybrid_model.h"
#include "runtime/model/tokenizer.h"

using namespace prfaas;

namespace {

// Each test that asks for it runs twice: dense, then MoE with key heads shared by two value heads.
model::model_config small_config() {
  auto c = testing::small_model();
  if (GENERATE(false, true)) {
    c.experts = 4;
    c.experts_per_token = 2;
    c.expert_ffn_dim = 32;
    c.shared_expert_ffn_dim = 48;
    c.linear_key_heads = 1;
    c.conv_kernel = 2;
  }
  return c;
}

std::vector<int32_t> prompt(int n) {
  std::string s;
  while (static_cast<int>(s.size()) < n) s += "hybrid attention keeps the state small; ";
  s.resize(n);
  return model::encode(s);
}

}  // namespace

TEST_CASE("layers follow the configured linear:full ratio, the full layer closing each group") {
  model::model_config c;  // default: 8 layers, 3 linear : 1 full
  std::vector<model::layer_kind> kinds;
  for (int l = 0; l < c.n_layers; ++l) kinds.push_back(c.kind(l));
  using K = model::layer_kind;
  CHECK(kinds == std::vector<K>{K::linear, K::linear, K::linear, K::full, K::linear, K::linear, K::linear, K::full});
  CHECK(c.full_layers() == 2);
}

TEST_CASE("the same seed gives the same tokens and another seed gives others") {
  auto c = small_config();
  model::hybrid_model a(c), b(c);
  kv::block_pool pool(c.block_bytes(), 64);
  const auto p = prompt(40);
  const auto ga = model::generate(a, pool, p, 12).tokens;
  CHECK(ga == model::generate(b, pool, p, 12).tokens);
  c.seed = 7;
  model::hybrid_model other(c);
  CHECK(ga != model::generate(other, pool, p, 12).tokens);
}

TEST_CASE("prefill in two chunks equals prefill in one, bit for bit") {
  const auto c = small_config();
  model::hybrid_model m(c);
  kv::block_pool pool(c.block_bytes(), 64);
  const auto p = prompt(37);  // crosses several 8-token blocks, ends mid-block
  kv::sequence_kv whole(c.kv_layout(), pool), chunked(c.kv_layout(), pool);
  const auto a = m.prefill(p, whole);
  m.prefill(std::span(p).first(20), chunked);
  const auto b = m.prefill(std::span(p).subspan(20), chunked);
  REQUIRE(a.size() == b.size());
  CHECK(std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0);
  CHECK(chunked.tokens() == 37);
}

TEST_CASE("decode_step after a prefill equals a prefill of the longer prompt") {
  const auto c = small_config();
  model::hybrid_model m(c);
  kv::block_pool pool(c.block_bytes(), 64);
  auto p = prompt(24);
  kv::sequence_kv step(c.kv_layout(), pool), whole(c.kv_layout(), pool);
  m.prefill(std::span(p).first(23), step);
  const auto a = m.decode_step(p.back(), step);
  const auto b = m.prefill(p, whole);
  CHECK(std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0);
}

TEST_CASE("a batched decode step equals each sequence's own decode step, bit for bit") {
  const auto c = small_config();
  model::hybrid_model m(c);
  kv::block_pool pool(c.block_bytes(), 512);
  // Five sequences at different positions (one across a block boundary), in one forward pass.
  const std::vector<int> lengths = {5, 17, 31, 32, 60};
  std::vector<std::unique_ptr<kv::sequence_kv>> batched, alone;
  std::vector<int32_t> next;
  std::vector<kv::sequence_kv*> kvs;
  for (size_t i = 0; i < lengths.size(); ++i) {
    const auto p = prompt(lengths[i] + static_cast<int>(i));
    batched.push_back(std::make_unique<kv::sequence_kv>(c.kv_layout(), pool));
    alone.push_back(std::make_unique<kv::sequence_kv>(c.kv_layout(), pool));
    next.push_back(model::greedy(m.prefill(p, *batched.back())));
    m.prefill(p, *alone.back());
    kvs.push_back(batched.back().get());
  }
  for (int step = 0; step < 3; ++step) {
    const auto logits = m.decode_batch(next, kvs);
    REQUIRE(logits.size() == lengths.size() * static_cast<size_t>(c.vocab));
    for (size_t i = 0; i < lengths.size(); ++i) {
      const auto own = m.decode_step(next[i], *alone[i]);
      CHECK(std::memcmp(own.data(), logits.data() + i * c.vocab, own.size() * sizeof(float)) == 0);
      CHECK(batched[i]->tokens() == alone[i]->tokens());
      next[i] = model::greedy(own);
    }
  }
}

TEST_CASE("the prefill hook fires once per layer, in order, after that layer's KV is final") {
  const auto c = small_config();
  model::hybrid_model m(c);
  kv::block_pool pool(c.block_bytes(), 64);
  const auto p = prompt(30);
  kv::sequence_kv kv(c.kv_layout(), pool);
  std::vector<int> order;
  std::vector<std::vector<std::byte>> at_hook(c.n_layers);
  m.prefill(p, kv, [&](int layer) {
    order.push_back(layer);
    for (int i = 0; i < kv.payload_count(layer); ++i) {
      auto s = kv.payload(layer, i);
      at_hook[layer].insert(at_hook[layer].end(), s.begin(), s.end());
    }
  });
  CHECK(order == std::vector<int>{0, 1, 2, 3});
  for (int l = 0; l < c.n_layers; ++l) {
    std::vector<std::byte> now;
    for (int i = 0; i < kv.payload_count(l); ++i) {
      auto s = kv.payload(l, i);
      now.insert(now.end(), s.begin(), s.end());
    }
    CHECK(now == at_hook[l]);  // later layers did not touch it
  }
  CHECK(kv.payload_count(3) == 4);  // 30 tokens in 8-token blocks
  CHECK(kv.payload_count(0) == 1);  // one linear state
}

TEST_CASE("requests beyond the context or without tokens are refused with a reason") {
  const auto c = small_config();
  model::hybrid_model m(c);
  kv::block_pool pool(c.block_bytes(), 64);
  try {
    model::generate(m, pool, prompt(250), 10);
    FAIL("no error");
  } catch (const failure& f) {
    CHECK(f.code() == errc::prompt_too_long);
    CHECK_THAT(f.what(), Catch::Contains("context of 256"));
  }
  CHECK_THROWS_AS(model::generate(m, pool, {}, 4), failure);
  CHECK_THROWS_AS(model::generate(m, pool, prompt(4), 0), failure);
}

TEST_CASE("the byte tokenizer round-trips any bytes") {
  std::string all;
  for (int i = 0; i < 256; ++i) all.push_back(static_cast<char>(i));
  CHECK(model::decode(model::encode(all)) == all);
  CHECK(model::encode("A")[0] == 65);
}

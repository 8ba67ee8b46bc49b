// Continuous batching must not change any sequence's tokens.

#include <catch2/catch.hpp>

#include <map>

#include "runtime/common/errc.h"
#include "runtime/model/decode_batch.h"
#include "runtime/model/generate.h"
#include "runtime/model/tokenizer.h"

using namespace prfaas;

TEST_CASE("sequences joining a batch at different steps decode exactly as alone") {
  model::model_config c;
  c.d_model = 64; c.n_layers = 4; c.head_dim = 16; c.linear_key_dim = 16; c.linear_value_dim = 16;
  c.ffn_dim = 128; c.block_tokens = 8; c.max_context = 256;
  model::hybrid_model m(c);
  kv::block_pool pool(c.block_bytes(), 128);
  const std::vector<std::string> prompts = {"first prompt, a short one", "second prompt is somewhat longer than the first"};
  const std::vector<int> max_tokens = {10, 6};

  model::decode_batch batch(m, 4);
  std::map<uint64_t, std::vector<int32_t>> got;
  for (size_t i = 0; i < prompts.size(); ++i) {
    auto kv = std::make_unique<kv::sequence_kv>(c, pool);
    const auto p = model::encode(prompts[i]);
    kv->reserve(static_cast<int>(p.size()) + max_tokens[i]);
    const auto first = model::greedy(m.prefill(p, *kv));
    batch.add(i, std::move(kv), first, max_tokens[i]);
    for (auto& f : batch.step()) got[f.request] = f.tokens;  // the first joins one step early
  }
  while (!batch.empty())
    for (auto& f : batch.step()) got[f.request] = f.tokens;
  for (size_t i = 0; i < prompts.size(); ++i)
    CHECK(got[i] == model::generate(m, pool, model::encode(prompts[i]), max_tokens[i]).tokens);
  CHECK(pool.free_blocks() == pool.capacity());  // finished sequences gave their blocks back
}

TEST_CASE("a full batch refuses another sequence") {
  model::model_config c;
  c.d_model = 32; c.n_layers = 2; c.linear_per_full = 1; c.head_dim = 8; c.linear_key_dim = 8;
  c.linear_value_dim = 8; c.ffn_dim = 32; c.block_tokens = 8;
  model::hybrid_model m(c);
  kv::block_pool pool(c.block_bytes(), 8);
  model::decode_batch batch(m, 1);
  batch.add(1, std::make_unique<kv::sequence_kv>(c, pool), 5, 3);
  CHECK_THROWS_AS(batch.add(2, std::make_unique<kv::sequence_kv>(c, pool), 5, 3), failure);
}

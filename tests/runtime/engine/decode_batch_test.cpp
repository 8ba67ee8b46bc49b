// Continuous batching must not change any sequence's tokens.

#include <catch2/catch.hpp>

#include <map>

#include "runtime/common/errc.h"
#include "runtime/engine/decode_batch.h"
#include "runtime/engine/tiny_engine.h"
#include "runtime/model/generate.h"
#include "runtime/model/tokenizer.h"
#include "tests/support/small_model.h"

using namespace prfaas;

namespace {
// Four layers (one full-attention), 8-token blocks: small enough to decode hundreds of tokens.
model::model_config four_layer_model() {
  model::model_config c;
  c.d_model = 64; c.n_layers = 4; c.head_dim = 16; c.linear_key_dim = 16; c.linear_value_dim = 16;
  c.ffn_dim = 128; c.block_tokens = 8; c.max_context = 256;
  return c;
}
}  // namespace

TEST_CASE("sequences joining a batch at different steps decode exactly as alone") {
  const auto c = four_layer_model();
  engine::tiny_engine e(c);
  const auto& m = e.model();
  kv::block_pool pool(c.block_bytes(), 128);
  const std::vector<std::string> prompts = {"first prompt, a short one", "second prompt is somewhat longer than the first"};
  const std::vector<int> max_tokens = {10, 6};

  engine::decode_batch batch(e, 4);
  std::map<uint64_t, std::vector<int32_t>> got;
  for (size_t i = 0; i < prompts.size(); ++i) {
    auto kv = std::make_unique<kv::sequence_kv>(c.kv_layout(), pool);
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
  engine::tiny_engine e(c);
  const auto& m = e.model();
  kv::block_pool pool(c.block_bytes(), 8);
  engine::decode_batch batch(e, 1);
  batch.add(1, std::make_unique<kv::sequence_kv>(c.kv_layout(), pool), 5, 3);
  CHECK_THROWS_AS(batch.add(2, std::make_unique<kv::sequence_kv>(c.kv_layout(), pool), 5, 3), failure);
}

TEST_CASE("with snapshots on, a finished sequence hands back its KV and a snapshot at each block boundary it passed") {
  const auto c = testing::small_model();  // 8-token blocks
  engine::tiny_engine e(c);
  const auto& m = e.model();
  kv::block_pool pool(c.block_bytes(), 128);
  engine::decode_batch batch(e, 2, /*snapshots=*/true);
  const auto p = model::encode("twenty characters!!!");  // 20 tokens
  auto kv = std::make_unique<kv::sequence_kv>(c.kv_layout(), pool);
  kv->reserve(40);
  const auto first = model::greedy(m.prefill(p, *kv));
  batch.add(1, std::move(kv), first, 15);  // KV grows to 20 + 14 = 34 positions
  std::vector<engine::decode_batch::finished> done;
  while (done.empty()) done = batch.step();
  REQUIRE(done.size() == 1);
  REQUIRE(done[0].kv);
  CHECK(done[0].kv->tokens() == 34);
  std::vector<int> at;
  for (const auto& s : done[0].snapshots) at.push_back(s.blocks);
  CHECK(at == std::vector<int>{3, 4});  // 24 and 32 positions
  // Each snapshot equals the state a fresh prefill of those tokens leaves.
  std::vector<int32_t> seq = p;
  seq.insert(seq.end(), done[0].tokens.begin(), done[0].tokens.end());
  kv::sequence_kv fresh(c.kv_layout(), pool);
  m.prefill(std::span(seq).first(24), fresh);
  for (int l = 0; l < c.n_layers; ++l)
    if (c.kind(l) == model::layer_kind::linear) CHECK(done[0].snapshots[0].states[l] == fresh.linear_state_vector(l));
}

TEST_CASE("seeded sampling in a batch gives each sequence the tokens it gets alone, and a stop ends it at once") {
  const auto c = four_layer_model();
  engine::tiny_engine e(c);
  kv::block_pool pool(c.block_bytes(), 128);
  model::sampling_params hot;
  hot.temperature = 1.5f;
  hot.top_p = 0.95f;
  hot.seed = 7;
  const auto p = model::encode("a prompt to sample from");
  // Alone, through the in-process reference: 20 tokens.
  const auto alone = engine::generate(e, pool, p, 20, &hot).tokens;
  REQUIRE(alone.size() == 20);
  auto other_seed = hot;
  other_seed.seed = 8;
  CHECK(engine::generate(e, pool, p, 20, &other_seed).tokens != alone);  // two seeds differ
  model::sampling_params cold;  // temperature 0: greedy
  CHECK(engine::generate(e, pool, p, 20, &cold).tokens == engine::generate(e, pool, p, 20).tokens);

  // In a batch beside a greedy sequence, joining a step late: the same tokens.
  engine::decode_batch batch(e, 4);
  std::map<uint64_t, std::vector<int32_t>> got;
  std::map<uint64_t, bool> stopped;
  auto join = [&](uint64_t id, const model::sampling_params& sp, std::unique_ptr<text::stop_condition> stop) {
    auto kv = std::make_unique<kv::sequence_kv>(c.kv_layout(), pool);
    kv->reserve(static_cast<int>(p.size()) + 20);
    const int32_t first = e.prefill(nullptr, p, *kv, {}, {}, &sp).first_token;
    batch.add(id, std::move(kv), first, 20, {sp, p, std::move(stop)});
  };
  join(1, cold, nullptr);
  for (auto& f : batch.step()) got[f.request] = f.tokens;
  join(2, hot, nullptr);
  // The third stops at the sampled stream's 6th token (a stop token id), leaving at that step.
  join(3, hot, std::make_unique<text::stop_condition>(nullptr, std::vector<int32_t>{alone[5]}, std::vector<std::string>{}));
  while (!batch.empty())
    for (auto& f : batch.step()) {
      got[f.request] = f.tokens;
      stopped[f.request] = f.stopped;
    }
  CHECK(got[2] == alone);
  const auto first_hit = std::find(alone.begin(), alone.end(), alone[5]) - alone.begin();
  CHECK(got[3] == std::vector<int32_t>(alone.begin(), alone.begin() + first_hit + 1));
  CHECK(stopped[3]);
  CHECK_FALSE(stopped[2]);
  CHECK(pool.free_blocks() == pool.capacity());
}

TEST_CASE("a sequence resumed from its output so far (prompt and output prefilled, the last token its input) continues as if never interrupted") {
  const auto c = four_layer_model();
  engine::tiny_engine e(c);
  kv::block_pool pool(c.block_bytes(), 128);
  model::sampling_params hot;
  hot.temperature = 1.2f;
  hot.presence_penalty = 0.5f;  // reads the output so far
  hot.seed = 11;
  const auto p = model::encode("a request whose decode node is lost halfway");
  const model::sampling_params* const kinds[] = {nullptr, &hot};
  for (const auto* sp : kinds) {
    INFO((sp ? "seeded sampling" : "greedy"));
    const auto whole = engine::generate(e, pool, p, 24, sp).tokens;
    REQUIRE(whole.size() == 24);
    for (int produced : {1, 9, 23}) {
      INFO(produced << " tokens produced before the loss");
      const std::vector<int32_t> output(whole.begin(), whole.begin() + produced);
      auto resumed = p;
      resumed.insert(resumed.end(), output.begin(), output.end() - 1);
      auto kv = std::make_unique<kv::sequence_kv>(c.kv_layout(), pool);
      kv->reserve(static_cast<int>(p.size()) + 24);
      e.prefill(nullptr, resumed, *kv);  // its first token is the last one produced, not chosen again
      engine::decode_batch batch(e, 2);
      engine::decode_batch::rules how;
      if (sp) how.sampling = *sp;
      how.prompt = p;
      batch.add(1, std::move(kv), output, 24, std::move(how));
      std::vector<int32_t> got;
      while (!batch.empty())
        for (auto& f : batch.step()) got = f.tokens;
      CHECK(got == whole);
    }
  }
  CHECK(pool.free_blocks() == pool.capacity());
}

TEST_CASE("log-probabilities are reported for every output token: the first as the prefill sent it, the rest chosen here") {
  const auto c = four_layer_model();
  engine::tiny_engine e(c);
  kv::block_pool pool(c.block_bytes(), 128);
  model::sampling_params sp;  // greedy, with the top 3 alternatives
  sp.logprobs = 3;
  const auto p = model::encode("log-probabilities, please");
  engine::decode_batch batch(e, 2);
  model::token_logprobs first_reported;
  for (uint64_t id : {1, 2}) {
    auto kv = std::make_unique<kv::sequence_kv>(c.kv_layout(), pool);
    kv->reserve(static_cast<int>(p.size()) + 8);
    const auto out = e.prefill(nullptr, p, *kv, {}, {}, &sp);
    first_reported = out.first_logprobs;
    // The first with what the prefill reported beside the KV; the second without (nothing came).
    engine::decode_batch::rules how{sp, p, nullptr, {}};
    if (id == 1) how.first_logprobs = out.first_logprobs;
    batch.add(id, std::move(kv), out.first_token, 8, std::move(how));
  }
  std::map<uint64_t, engine::decode_batch::finished> done;
  while (!batch.empty())
    for (auto& f : batch.step()) done.emplace(f.request, std::move(f));
  REQUIRE(done.size() == 2);
  for (auto& [id, f] : done) {
    REQUIRE(f.logprobs.size() == f.tokens.size());
    for (size_t i = 1; i < f.tokens.size(); ++i) {
      REQUIRE(f.logprobs[i].top_ids.size() == 3);
      CHECK(f.logprobs[i].top_ids[0] == f.tokens[i]);  // greedy: the chosen token is the likeliest
    }
  }
  REQUIRE(first_reported.top_ids.size() == 3);
  CHECK(done[1].logprobs[0].top_ids == first_reported.top_ids);
  CHECK(done[1].logprobs[0].logprob == first_reported.logprob);
  CHECK(done[2].logprobs[0].top_ids.empty());  // not known here
  CHECK(done[1].tokens == done[2].tokens);
}

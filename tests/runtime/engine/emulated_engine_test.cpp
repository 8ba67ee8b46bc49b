// The emulated engine plays a hardware profile back: its KV has the profile's size (scaled),
// its prefills and decode steps take the profile's times (scaled), and its tokens are a
// deterministic hash of the prompt carried in the linear states.

#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <cstring>

#include "runtime/engine/decode_batch.h"
#include "runtime/engine/emulated_engine.h"
#include "runtime/kv/prefix_cache.h"
#include "runtime/model/tokenizer.h"

using namespace prfaas;

namespace {

profile::instance_profile h200() { return profile::load_profile(PRFAAS_SOURCE_DIR "/profiles/h200-1t-hybrid.toml"); }
profile::instance_profile h20() { return profile::load_profile(PRFAAS_SOURCE_DIR "/profiles/h20-1t-hybrid.toml"); }

std::vector<int32_t> prompt(int n, uint32_t seed) {
  std::vector<int32_t> p(n);
  uint32_t x = seed * 2654435761u + 1;
  for (auto& t : p) { x = x * 1664525u + 1013904223u; t = static_cast<int32_t>(32 + (x >> 24) % 95); }
  return p;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

TEST_CASE("an emulated sequence's KV has the profile's size per prompt, divided by kv_scale") {
  const auto p = h200();
  for (double kv_scale : {16.0, 64.0, 256.0}) {
    const auto l = profile::make_emulated_layout(p, kv_scale, 140000, "test");
    INFO("kv_scale " << kv_scale << ", effective " << l.effective_kv_scale);
    CHECK(l.effective_kv_scale == Approx(kv_scale).epsilon(0.10));  // rounding of the layer width
    kv::block_pool pool(l.layout.block_bytes(), 1200);
    for (int tokens : {8192, 32768, 131072}) {
      kv::sequence_kv kv(l.layout.kv_layout(), pool);
      kv.reserve(tokens);
      kv.set_tokens(tokens);
      const double want = p.s_kv_bytes(tokens) / l.effective_kv_scale;
      INFO(tokens << " tokens: " << kv.total_payload_bytes() << " bytes, the profile's " << want);
      CHECK(kv.total_payload_bytes() == Approx(want).epsilon(0.05));
    }
  }
}

TEST_CASE("an emulated prefill takes the profile's T_prefill of its uncached tokens, divided by time_scale") {
  const double time_scale = 2;  // 1K tokens: 220 ms, 8K: 360 ms, 32K: 920 ms on the H200 table
  const auto l = profile::make_emulated_layout(h200(), 256, 140000, "test");
  const engine::emulated_engine e(l.layout, h200(), time_scale, 7);
  kv::block_pool pool(l.layout.block_bytes(), 512);
  for (int tokens : {1024, 8192, 32768}) {
    const auto pr = prompt(tokens, tokens);
    int layers_streamed = 0;
    kv::sequence_kv kv(l.layout.kv_layout(), pool);
    const auto t0 = std::chrono::steady_clock::now();
    const auto out = e.prefill(nullptr, pr, kv, [&](int, int, int) { ++layers_streamed; });
    const double took = seconds_since(t0), want = h200().t_prefill(tokens) / time_scale;
    INFO(tokens << " tokens: " << took << " s, the profile's " << want << " s");
    CHECK(took >= want);
    CHECK(took <= 1.05 * want);
    CHECK(out.computed_tokens == tokens);
    CHECK(layers_streamed == l.layout.n_layers);  // every layer's KV streamed as it became final
    CHECK(kv.tokens() == tokens);
  }
}

TEST_CASE("emulated decode steps take T_decode divided by time_scale for a batch of up to BS_max") {
  const auto p = h20();  // 25 ms a step, 20 sequences
  const double time_scale = 2;
  const auto l = profile::make_emulated_layout(p, 256, 140000, "test");
  const engine::emulated_engine e(l.layout, p, time_scale, 7);
  kv::block_pool pool(l.layout.block_bytes(), 512);
  engine::decode_batch batch(e, 64);
  CHECK(batch.capacity() == p.bs_max);  // the profile bounds the batch, whatever the node asks
  const int steps = 24;
  for (int i = 0; i < 6; ++i) {
    auto kv = std::make_unique<kv::sequence_kv>(l.layout.kv_layout(), pool);
    const auto pr = prompt(300 + i, i);
    kv->reserve(static_cast<int>(pr.size()) + steps + 1);
    const int32_t first = e.prefill(nullptr, pr, *kv).first_token;
    batch.add(i, std::move(kv), first, steps + 1);
  }
  const auto t0 = std::chrono::steady_clock::now();
  int finished = 0, taken = 0;
  while (!batch.empty()) {
    finished += static_cast<int>(batch.step().size());
    ++taken;
  }
  const double took = seconds_since(t0), want = steps * p.t_decode_s / time_scale;
  INFO(taken << " steps of 6 sequences in " << took << " s, the profile's " << want << " s");
  CHECK(finished == 6);
  CHECK(taken == steps);
  CHECK(took >= want);
  // Steps keep to their timeline (a late wake-up is made up by the next step), so the total
  // overruns by at most the last wake-up's lateness: 50 ms allows for a loaded machine.
  CHECK(took <= want + 0.05);
}

TEST_CASE("emulated tokens are a seeded hash of the prompt: the same on every path, different for another prompt") {
  const auto l = profile::make_emulated_layout(h20(), 256, 20000, "test");
  const engine::emulated_engine e(l.layout, h20(), 1000, 11);
  const engine::emulated_engine other_seed(l.layout, h20(), 1000, 12);
  kv::block_pool pool(l.layout.block_bytes(), 4096);
  const auto a = prompt(3000, 1), b = prompt(3000, 2);
  const auto ga = engine::generate(e, pool, a, 40).tokens;
  CHECK(ga == engine::generate(e, pool, a, 40).tokens);
  CHECK(ga != engine::generate(e, pool, b, 40).tokens);
  CHECK(ga != engine::generate(other_seed, pool, a, 40).tokens);
  CHECK(std::all_of(ga.begin(), ga.end(), [](int32_t t) { return t == ' ' || (t >= 'a' && t <= 'z'); }));

  SECTION("a prefill that starts from the prefix cache decodes the same tokens") {
    kv::prefix_cache cache(l.layout.kv_layout(), pool, kv::prefix_cache_options{int64_t{64} << 20, 1});
    for (int round = 0; round < 2; ++round) {
      kv::sequence_kv kv(l.layout.kv_layout(), pool);
      kv.reserve(static_cast<int>(a.size()) + 40);
      const auto out = e.prefill(&cache, a, kv);
      CHECK(out.cached_tokens == (round == 0 ? 0 : 2560));  // 5 whole 512-token blocks the second time
      std::vector<int32_t> tokens{out.first_token};
      while (tokens.size() < 40) tokens.push_back(e.decode_step(tokens.back(), kv));
      CHECK(tokens == ga);
    }
  }
  SECTION("a sequence whose linear state did not arrive intact decodes differently") {
    kv::sequence_kv kv(l.layout.kv_layout(), pool);
    kv.reserve(static_cast<int>(a.size()) + 40);
    const int32_t first = e.prefill(nullptr, a, kv).first_token;
    for (int layer = 0; layer < l.layout.n_layers; ++layer)
      if (l.layout.kind(layer) == model::layer_kind::linear) std::memset(kv.linear_state(layer), 0, 8);
    std::vector<int32_t> tokens{first};
    while (tokens.size() < 40) tokens.push_back(e.decode_step(tokens.back(), kv));
    CHECK(tokens != ga);
  }
}

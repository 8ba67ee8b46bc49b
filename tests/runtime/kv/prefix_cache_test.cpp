// The hybrid prefix cache: block chains plus exact-length state snapshots, shared blocks,
// LRU eviction under a byte budget, and prefills that reuse it bit-exactly.

#include <catch2/catch.hpp>

#include <cstring>
#include <map>
#include <random>

#include "runtime/common/errc.h"
#include "runtime/kv/prefix_cache.h"
#include "runtime/model/cached_prefill.h"
#include "runtime/model/generate.h"
#include "runtime/model/tokenizer.h"
#include "runtime/transport/transfer.h"
#include "tests/support/small_model.h"

using namespace prfaas;

namespace {

std::vector<int32_t> text(int n, const std::string& seed_text) {
  std::string s;
  while (static_cast<int>(s.size()) < n) s += seed_text;
  s.resize(n);
  return model::encode(s);
}

std::vector<int32_t> concat(std::vector<int32_t> a, const std::vector<int32_t>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

// Greedy tokens after a cached prefill, continued by decode steps (the decode node's way).
std::vector<int32_t> continue_greedy(const model::hybrid_model& m, model::cached_prefill_result& r,
                                     kv::sequence_kv& kv, int max_tokens) {
  std::vector<int32_t> out{model::greedy(r.logits)};
  while (static_cast<int>(out.size()) < max_tokens) out.push_back(model::greedy(m.decode_step(out.back(), kv)));
  return out;
}

}  // namespace

TEST_CASE("the same prompt twice: the second prefill reuses all but the last block and matches bit for bit") {
  const auto c = testing::small_model();  // 8-token blocks
  model::hybrid_model m(c);
  kv::block_pool pool(c.block_bytes(), 256);
  kv::prefix_cache cache(c.kv_layout(), pool, {.budget_bytes = 1 << 20, .snapshot_every_blocks = 4});
  const auto p = text(150, "a prompt seen twice is prefilled once; ");
  const auto cold = model::generate(m, pool, p, 10).tokens;

  kv::sequence_kv first(c.kv_layout(), pool);
  first.reserve(160);
  auto r1 = model::cached_prefill(m, &cache, p, first);
  CHECK(r1.cached_tokens == 0);
  CHECK(r1.computed_tokens == 150);
  CHECK(continue_greedy(m, r1, first, 10) == cold);

  kv::sequence_kv second(c.kv_layout(), pool);
  second.reserve(160);
  auto r2 = model::cached_prefill(m, &cache, p, second);
  CHECK(r2.cached_tokens == 144);  // 18 full blocks of the first 149 tokens
  CHECK(r2.computed_tokens == 6);
  CHECK(continue_greedy(m, r2, second, 10) == cold);
  CHECK(cache.stats().hits == 1);
  CHECK(cache.stats().lookups == 2);
  cache.check_invariants();
}

TEST_CASE("a shared prefix with another suffix hits the prefix to snapshot granularity") {
  const auto c = testing::small_model();
  model::hybrid_model m(c);
  kv::block_pool pool(c.block_bytes(), 256);
  kv::prefix_cache cache(c.kv_layout(), pool, {.budget_bytes = 1 << 20, .snapshot_every_blocks = 4});
  const auto prefix = text(100, "the shared system prompt of every turn. ");  // 12.5 blocks
  const auto a = concat(prefix, text(40, "question one? "));
  const auto b = concat(prefix, text(30, "another question! "));
  kv::sequence_kv ka(c.kv_layout(), pool);
  model::cached_prefill(m, &cache, a, ka);
  // Snapshots at 4, 8, 12 blocks and at a's end; b shares 12 full blocks (96 tokens) of a.
  CHECK(cache.match(kv::reusable_chain(b, c.block_tokens)) == 96);

  const auto cold = model::generate(m, pool, b, 8).tokens;
  kv::sequence_kv kb(c.kv_layout(), pool);
  kb.reserve(static_cast<int>(b.size()) + 8);
  auto r = model::cached_prefill(m, &cache, b, kb);
  CHECK(r.cached_tokens == 96);
  CHECK(continue_greedy(m, r, kb, 8) == cold);
}

TEST_CASE("a hit needs a state snapshot at its exact length, not only the blocks") {
  const auto c = testing::small_model();
  model::hybrid_model m(c);
  kv::block_pool pool(c.block_bytes(), 256);
  kv::prefix_cache cache(c.kv_layout(), pool, {.budget_bytes = 1 << 20, .snapshot_every_blocks = 100});
  const auto a = text(90, "only the end of this prompt has a snapshot. ");
  kv::sequence_kv ka(c.kv_layout(), pool);
  model::cached_prefill(m, &cache, a, ka);  // blocks 1..11, one snapshot at 11 blocks
  CHECK(cache.stats().snapshots == 1);
  // A prompt sharing 10 blocks: the blocks are there, no state at 80 tokens: no hit.
  auto b = std::vector<int32_t>(a.begin(), a.begin() + 80);
  b.push_back('x');
  b.push_back('y');
  CHECK(cache.match(kv::reusable_chain(b, c.block_tokens)) == 0);
  CHECK(cache.match(kv::reusable_chain(a, c.block_tokens)) == 88);
}

TEST_CASE("the cache publishes what it inserts and evicts, and can publish everything again") {
  const auto c = testing::small_model();
  model::hybrid_model m(c);
  kv::block_pool pool(c.block_bytes(), 256);
  const int64_t per_block = c.full_layers() * c.block_bytes();
  const int64_t per_snapshot = (c.n_layers - c.full_layers()) * c.linear_state_bytes();
  kv::prefix_cache cache(c.kv_layout(), pool, {.budget_bytes = 6 * per_block + 2 * per_snapshot, .snapshot_every_blocks = 3});
  kv::sequence_kv ka(c.kv_layout(), pool);
  model::cached_prefill(m, &cache, text(50, "first prompt "), ka);  // 6 blocks, snapshots at 3, 6
  auto d = cache.take_delta();
  CHECK(d.added_blocks.size() == 6);
  CHECK(d.added_snapshots.size() == 2);
  CHECK(d.removed_blocks.empty());
  CHECK(cache.take_delta().empty());
  kv::sequence_kv kb(c.kv_layout(), pool);
  model::cached_prefill(m, &cache, text(30, "second, unrelated "), kb);  // 3 blocks, snapshot at 3
  d = cache.take_delta();
  CHECK(d.added_blocks.size() == 3);
  CHECK(d.removed_blocks.size() == 3);      // the first prompt's last 3 blocks, oldest leaves first
  CHECK(d.removed_snapshots.size() == 1);   // with the snapshot at 6
  CHECK(cache.stats().bytes <= cache.options().budget_bytes);
  const auto all = cache.everything();
  CHECK(all.added_blocks.size() == 6);
  CHECK(all.added_snapshots.size() == 2);
  cache.check_invariants();
}

TEST_CASE("eviction under a small budget never frees a block a sequence still holds (stress)") {
  const auto c = testing::small_model();
  model::hybrid_model m(c);
  kv::block_pool pool(c.block_bytes(), 512);
  const int64_t per_block = c.full_layers() * c.block_bytes();
  kv::prefix_cache cache(c.kv_layout(), pool, {.budget_bytes = 20 * per_block, .snapshot_every_blocks = 2});
  std::mt19937 rng(7);
  const std::vector<std::string> docs = {"alpha document. ", "beta document! ", "gamma doc? ", "delta; "};
  std::map<int, std::unique_ptr<kv::sequence_kv>> live;  // sequences still held, like in-flight requests
  int next = 0, hits = 0;
  for (int step = 0; step < 300; ++step) {
    if (!live.empty() && (rng() % 3 == 0 || live.size() > 12)) {
      auto it = live.begin();
      std::advance(it, rng() % live.size());
      live.erase(it);
    }
    auto p = concat(text(8 + static_cast<int>(rng() % 80), docs[rng() % docs.size()]), text(1 + rng() % 20, "tail "));
    auto kv = std::make_unique<kv::sequence_kv>(c.kv_layout(), pool);
    const auto r = model::cached_prefill(m, &cache, p, *kv);
    hits += r.cached_tokens > 0;
    live.emplace(next++, std::move(kv));

    // Every block's holders are exactly the cache's holds plus the live sequences' holds.
    std::vector<int> holds(pool.capacity(), 0);
    cache.count_holds(holds);
    for (const auto& [id, seq] : live)
      for (int l = 0; l < c.n_layers; ++l)
        for (int b : seq->block_ids(l)) ++holds[b];
    int held = 0;
    for (int b = 0; b < pool.capacity(); ++b) {
      INFO("block " << b << " at step " << step);
      REQUIRE(pool.holders(b) == holds[b]);
      held += holds[b] > 0;
    }
    REQUIRE(pool.free_blocks() == pool.capacity() - held);
    cache.check_invariants();
  }
  CHECK(cache.stats().evictions > 50);
  CHECK(hits > 50);
  live.clear();
  std::vector<int> holds(pool.capacity(), 0);
  cache.count_holds(holds);
  for (int b = 0; b < pool.capacity(); ++b) CHECK(pool.holders(b) == holds[b]);
}

TEST_CASE("a zero budget turns caching off") {
  const auto c = testing::small_model();
  model::hybrid_model m(c);
  kv::block_pool pool(c.block_bytes(), 64);
  kv::prefix_cache cache(c.kv_layout(), pool, {.budget_bytes = 0});
  const auto p = text(60, "no cache ");
  for (int i = 0; i < 2; ++i) {
    kv::sequence_kv kv(c.kv_layout(), pool);
    CHECK(model::cached_prefill(m, &cache, p, kv).cached_tokens == 0);
  }
  CHECK(cache.stats().blocks == 0);
}

TEST_CASE("a cached prefill streams every payload exactly once, each already final when it is handed out") {
  const auto c = testing::small_model();
  model::hybrid_model m(c);
  kv::block_pool pool(c.block_bytes(), 256);
  kv::prefix_cache cache(c.kv_layout(), pool, {.budget_bytes = 1 << 20, .snapshot_every_blocks = 2});
  const auto warm = text(40, "a cached beginning. ");
  kv::sequence_kv first(c.kv_layout(), pool);
  model::cached_prefill(m, &cache, warm, first);  // 4 blocks cached, snapshots at 2 and 4
  const auto p = concat(warm, text(60, "and a longer continuation "));
  kv::sequence_kv kv(c.kv_layout(), pool);
  std::map<std::pair<int, int>, std::vector<std::byte>> handed;  // (layer, index) -> bytes then
  int calls = 0;
  const auto r = model::cached_prefill(m, &cache, p, kv, [&](int layer, int a, int b) {
    ++calls;
    for (int i = a; i < b; ++i) {
      auto span = kv.payload(layer, i);
      INFO("layer " << layer << " payload " << i);
      REQUIRE(handed.emplace(std::make_pair(layer, i), std::vector<std::byte>(span.begin(), span.end())).second);
    }
  });
  CHECK(r.cached_tokens == 32);
  CHECK(calls > c.n_layers);  // full layers go out in several parts
  for (int l = 0; l < c.n_layers; ++l)
    for (int i = 0; i < kv.payload_count(l); ++i) {
      INFO("layer " << l << " payload " << i);
      REQUIRE(handed.count({l, i}));
      const auto now = kv.payload(l, i);
      CHECK(std::memcmp(handed[{l, i}].data(), now.data(), now.size()) == 0);
    }
  size_t expected = 0;
  for (int l = 0; l < c.n_layers; ++l) expected += kv.payload_count(l);
  CHECK(handed.size() == expected);
}

TEST_CASE("sequences come first: make_room evicts cached prefixes until the pool has the blocks asked for") {
  const auto c = testing::small_model();
  model::hybrid_model m(c);
  kv::block_pool pool(c.block_bytes(), 64);
  kv::prefix_cache cache(c.kv_layout(), pool, {.budget_bytes = 1 << 20, .snapshot_every_blocks = 4});
  for (const auto* seed : {"one ", "two ", "three "}) {
    kv::sequence_kv kv(c.kv_layout(), pool);
    model::cached_prefill(m, &cache, text(80, seed), kv);
  }
  const int cached_blocks = pool.capacity() - pool.free_blocks();
  REQUIRE(cached_blocks >= 27);  // 3 prompts x 9 reusable blocks x 2 full layers
  cache.make_room(pool.capacity() - 10);
  CHECK(pool.free_blocks() >= pool.capacity() - 10);
  CHECK(cache.stats().evictions > 0);
  cache.check_invariants();
  cache.make_room(pool.capacity());  // everything, if need be
  CHECK(cache.stats().blocks == 0);
  CHECK(pool.free_blocks() == pool.capacity());
}

TEST_CASE("a decode node lends its cached blocks to a new sequence and receives only the rest: same tokens as the whole KV") {
  const auto c = testing::small_model();  // 8-token blocks
  model::hybrid_model m(c);
  kv::block_pool pool(c.block_bytes(), 256);
  // Snapshots only at a prompt's end: the decode side's blocks need none to be lent.
  kv::prefix_cache held(c.kv_layout(), pool, {.budget_bytes = 1 << 20, .snapshot_every_blocks = 100});
  const auto turn1 = text(90, "an earlier turn, decoded on this node. ");
  kv::sequence_kv k1(c.kv_layout(), pool);
  model::cached_prefill(m, &held, turn1, k1);  // 11 blocks cached, one snapshot at 11
  auto turn2 = std::vector<int32_t>(turn1.begin(), turn1.begin() + 80);
  const auto more = text(45, "and the next question? ");
  turn2.insert(turn2.end(), more.begin(), more.end());  // 125 tokens: 16 blocks
  REQUIRE(held.match(kv::reusable_chain(turn2, c.block_tokens)) == 0);  // no snapshot at 80: no prefill hit

  // The sender prefills all of turn 2; the receiver holds its first 10 blocks already.
  kv::sequence_kv sent(c.kv_layout(), pool);
  sent.reserve(140);
  auto r = model::cached_prefill(m, nullptr, turn2, sent);
  kv::sequence_kv got(c.kv_layout(), pool);
  const int lent = held.lend_blocks(kv::reusable_chain(turn2, c.block_tokens), got);
  CHECK(lent == 80);
  const int held_blocks = lent / c.block_tokens;
  got.reserve(140);
  got.set_tokens(static_cast<int>(turn2.size()));
  transport::sequence_transfer from(sent, -1, held_blocks), to(got, -1, held_blocks);
  long moved = 0;
  for (int l = 0; l < c.n_layers; ++l) {
    INFO("layer " << l);
    REQUIRE(from.payload_count(l) == to.payload_count(l));
    CHECK(from.payload_count(l) == (c.kv_layout().kind(l) == kv::layer_kind::full ? 16 - 10 : 1));
    for (int i = 0; i < from.payload_count(l); ++i) {
      auto a = from.payload(l, i);
      auto b = to.payload(l, i);
      REQUIRE(a.size() == b.size());
      std::memcpy(b.data(), a.data(), a.size());
      moved += static_cast<long>(a.size());
    }
  }
  CHECK(moved == c.kv_layout().sequence_bytes(125, held_blocks));
  // A prefill's hook names blocks as the sequence numbers them; the view renumbers them.
  for (int l = 0; l < c.n_layers; ++l) {
    if (c.kv_layout().kind(l) == kv::layer_kind::full) {
      CHECK(from.view_range(l, 0, 10) == std::pair{0, 0});  // all held: nothing to send
      CHECK(from.view_range(l, 8, 16) == std::pair{0, 6});
    } else {
      CHECK(from.view_range(l, 0, 1) == std::pair{0, 1});   // a state always crosses
    }
  }
  CHECK(moved == c.kv_layout().sequence_bytes(125) - static_cast<long>(c.full_layers()) * 10 * c.block_bytes());
  // The lent blocks are the cache's own (shared, not copied) and bit-equal to the sender's.
  for (int l = 0; l < c.n_layers; ++l) {
    if (c.kv_layout().kind(l) != kv::layer_kind::full) continue;
    for (int b = 0; b < 10; ++b) {
      CHECK(pool.holders(got.block_ids(l)[b]) >= 2);
      CHECK(std::memcmp(got.payload(l, b).data(), sent.payload(l, b).data(), got.payload(l, b).size()) == 0);
    }
  }
  // The received sequence decodes as the whole one does.
  auto r_got = r;
  CHECK(continue_greedy(m, r_got, got, 12) == continue_greedy(m, r, sent, 12));
  held.check_invariants();
}

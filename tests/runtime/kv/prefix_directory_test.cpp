// The cache directory's index: per node, the same hybrid hit rule as the node's own cache.

#include <catch2/catch.hpp>

#include "runtime/kv/prefix_directory.h"

using namespace prfaas;

namespace {

std::vector<uint64_t> chain_of(int n, int32_t salt = 0) {
  std::vector<int32_t> p(n);
  for (int i = 0; i < n; ++i) p[i] = i + salt;
  return kv::block_hash_chain(p, 16);
}

kv::cache_delta added(std::span<const uint64_t> blocks, std::vector<uint64_t> snapshots) {
  kv::cache_delta d;
  d.added_blocks.assign(blocks.begin(), blocks.end());
  d.added_snapshots = std::move(snapshots);
  return d;
}

}  // namespace

TEST_CASE("a block's key depends on every token before it") {
  std::vector<int32_t> a(40, 1), b(40, 1);
  b[3] = 2;  // differs in the first block
  const auto ca = kv::block_hash_chain(a, 16), cb = kv::block_hash_chain(b, 16);
  REQUIRE(ca.size() == 2);  // the partial third block has no key
  CHECK(ca[0] != cb[0]);
  CHECK(ca[1] != cb[1]);
  // The reusable chain leaves the prompt's last token out: 32 tokens give one full block.
  CHECK(kv::reusable_chain(std::span(a).first(32), 16).size() == 1);
}

TEST_CASE("the directory answers each node's hybrid hit: blocks and a snapshot at the same length") {
  kv::prefix_directory dir(16);
  const auto chain = chain_of(64);  // 4 blocks
  CHECK(dir.match(chain).empty());
  dir.apply("local-prefill-0", "local", added(std::span(chain).first(3), {chain[1]}), false);
  dir.apply("prfaas-prefill-0", "prfaas", added(chain, {chain[3]}), false);
  dir.apply("prfaas-prefill-1", "prfaas", added(chain, {}), false);  // blocks without a state: no hit
  const auto hits = dir.match(chain);
  REQUIRE(hits.size() == 3);
  CHECK(hits[0].node == "prfaas-prefill-0");
  CHECK(hits[0].tokens == 64);
  CHECK(hits[1].node == "local-prefill-0");
  CHECK(hits[1].tokens == 32);   // blocks to 3, but the snapshot is at 2
  CHECK(hits[1].held_tokens == 48);
  // Held blocks without a state are no hit, but a decode node could lend them.
  CHECK(hits[2].node == "prfaas-prefill-1");
  CHECK(hits[2].tokens == 0);
  CHECK(hits[2].held_tokens == 64);
  CHECK(kv::prefix_directory::best(hits, "local") == 32);
  CHECK(kv::prefix_directory::best(hits, "prfaas") == 64);
  CHECK(dir.match(chain_of(64, 1)).empty());  // another prompt shares nothing
}

TEST_CASE("evictions, a reset after a restart and a dropped node all take hits away") {
  kv::prefix_directory dir(16);
  const auto chain = chain_of(64);
  dir.apply("n", "local", added(chain, {chain[1], chain[3]}), false);
  CHECK(dir.match(chain)[0].tokens == 64);
  kv::cache_delta evicted;
  evicted.removed_blocks = {chain[3], chain[2]};
  evicted.removed_snapshots = {chain[3]};
  dir.apply("n", "local", evicted, false);
  CHECK(dir.match(chain)[0].tokens == 32);
  dir.apply("n", "local", {}, true);  // restarted: its cache is empty
  CHECK(dir.match(chain).empty());
  dir.apply("n", "local", added(chain, {chain[0]}), false);
  dir.drop("n");
  CHECK(dir.match(chain).empty());
  CHECK(dir.nodes() == 0);
}

TEST_CASE("a node indexes at most its bound of keys, the rest are counted, never over-reported") {
  kv::prefix_directory dir(16, 2);
  const auto chain = chain_of(64);
  dir.apply("n", "local", added(chain, {chain[0], chain[3]}), false);
  CHECK(dir.keys("n") == 2);
  CHECK(dir.dropped_keys() == 2);
  CHECK(dir.match(chain)[0].tokens == 16);  // blocks 0-1 indexed, snapshot only at 0 usable
}

TEST_CASE("a directory rebuilt from another's snapshot, in parts of a bounded size, answers as the original") {
  kv::prefix_directory dir(16);
  const auto a = chain_of(64), b = chain_of(48, 7);
  dir.apply("local-prefill-0", "local", added(std::span(a).first(3), {a[1]}), false);
  dir.apply("prfaas-prefill-0", "prfaas", added(a, {a[3]}), false);
  dir.apply("decode-0", "local", added(b, {}), false);
  dir.apply("prfaas-prefill-1", "prfaas", {}, false);  // known, holding nothing
  const auto parts = dir.snapshot(2);
  for (const auto& p : parts) CHECK(p.delta.added_blocks.size() + p.delta.added_snapshots.size() <= 2);
  // A copy that held other things starts over from each node's first part.
  kv::prefix_directory copy(16);
  copy.apply("local-prefill-0", "local", added(b, {b[0]}), false);
  for (const auto& p : parts) copy.apply(p.node, p.cluster, p.delta, p.reset);
  for (const auto& chain : {a, b}) {
    const auto want = dir.match(chain), got = copy.match(chain);
    REQUIRE(got.size() == want.size());
    for (size_t i = 0; i < want.size(); ++i) {
      CHECK(got[i].node == want[i].node);
      CHECK(got[i].cluster == want[i].cluster);
      CHECK(got[i].tokens == want[i].tokens);
      CHECK(got[i].held_tokens == want[i].held_tokens);
    }
  }
  CHECK(copy.nodes() == 4);
  CHECK(copy.keys("local-prefill-0") == 3);
}

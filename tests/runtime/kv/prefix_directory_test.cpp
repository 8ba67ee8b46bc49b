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

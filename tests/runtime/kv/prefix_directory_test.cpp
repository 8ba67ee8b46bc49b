// The cache directory's index matches prefixes block by block, per cluster.

#include <catch2/catch.hpp>

#include "runtime/kv/prefix_directory.h"

using namespace prfaas;

TEST_CASE("a block's key depends on every token before it") {
  std::vector<int32_t> a(40, 1), b(40, 1);
  b[3] = 2;  // differs in the first block
  const auto ca = kv::block_hash_chain(a, 16), cb = kv::block_hash_chain(b, 16);
  REQUIRE(ca.size() == 2);  // the partial third block has no key
  CHECK(ca[0] != cb[0]);
  CHECK(ca[1] != cb[1]);
}

TEST_CASE("the directory answers the longest cached prefix in the asked cluster only") {
  kv::prefix_directory dir(16);
  std::vector<int32_t> p(64);
  for (int i = 0; i < 64; ++i) p[i] = i;
  const auto chain = kv::block_hash_chain(p, 16);
  CHECK(dir.match("local", chain) == 0);
  dir.insert("local", std::span(chain).first(2));
  CHECK(dir.match("local", chain) == 32);
  CHECK(dir.match("prfaas", chain) == 0);
}

TEST_CASE("the directory holds at most its bound of entries per cluster, evicting the oldest") {
  kv::prefix_directory dir(1, 2);
  std::vector<int32_t> p = {1, 2, 3};
  const auto chain = kv::block_hash_chain(p, 1);
  dir.insert("c", chain);  // 3 keys into a bound of 2: the first is evicted
  CHECK(dir.match("c", chain) == 0);
  CHECK(dir.match("c", std::span(chain).subspan(1)) == 2);
}

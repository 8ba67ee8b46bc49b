// The block pool and the sequence KV built on it: bounded, aligned, leak-free.

#include <catch2/catch.hpp>

#include <set>

#include "runtime/common/errc.h"
#include "runtime/kv/block_pool.h"
#include "runtime/kv/sequence_kv.h"
#include "runtime/model/config.h"

using namespace prfaas;

TEST_CASE("a block pool hands out each block once, 64-byte aligned, up to its capacity") {
  kv::block_pool pool(4096, 3);
  std::set<int> ids;
  for (int i = 0; i < 3; ++i) {
    auto id = pool.allocate();
    REQUIRE(id);
    CHECK(reinterpret_cast<uintptr_t>(pool.data(*id)) % 64 == 0);
    ids.insert(*id);
  }
  CHECK(ids.size() == 3);
  CHECK_FALSE(pool.allocate());
  pool.release(*ids.begin());
  CHECK(pool.free_blocks() == 1);
  CHECK_THROWS_AS(pool.release(*ids.begin()), failure);  // double release is a bug, caught
}

TEST_CASE("a sequence reserves blocks on full layers only and returns them when destroyed") {
  model::model_config c;  // 8 layers, 2 full, 64-token blocks
  kv::block_pool pool(c.block_bytes(), 10);
  {
    kv::sequence_kv kv(c.kv_layout(), pool);
    kv.reserve(130);  // 3 blocks per full layer
    CHECK(pool.free_blocks() == 4);
    kv.set_tokens(130);
    CHECK(kv.payload_count(3) == 3);
    CHECK(kv.payload_count(0) == 1);
    CHECK(kv.payload(3, 0).size() == static_cast<size_t>(c.block_bytes()));
    CHECK(kv.payload(0, 0).size() == static_cast<size_t>(c.linear_state_bytes()));
    CHECK(kv.total_payload_bytes() == 6 * c.linear_state_bytes() + 6 * c.block_bytes());
    try {
      kv.reserve(64 * 6);
      FAIL("no error");
    } catch (const failure& f) {
      CHECK(f.code() == errc::no_capacity);
    }
  }
  CHECK(pool.free_blocks() == 10);
}

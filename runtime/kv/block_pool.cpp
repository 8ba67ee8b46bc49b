#include "runtime/kv/block_pool.h"

#include <cstdlib>
#include <cstring>
#include <new>

#include "runtime/common/errc.h"

namespace prfaas::kv {

void block_pool::slab_deleter::operator()(std::byte* p) const { std::free(p); }

block_pool::block_pool(long block_bytes, int capacity_blocks)
    : block_bytes_(block_bytes), capacity_(capacity_blocks), ledger_(capacity_blocks) {
  PRFAAS_REQUIRE(block_bytes > 0 && block_bytes % 64 == 0, "block size must be a multiple of 64");
  PRFAAS_REQUIRE(capacity_blocks > 0, "block pool needs at least one block");
  const size_t bytes = static_cast<size_t>(block_bytes) * capacity_blocks;
  void* p = std::aligned_alloc(64, bytes);
  if (!p) throw failure(errc::no_capacity, "cannot allocate " + std::to_string(bytes) + " bytes of KV blocks");
  std::memset(p, 0, bytes);  // pre-fault every page now, not on the hot path
  slab_.reset(static_cast<std::byte*>(p));
}

std::byte* block_pool::data(int id) const {
  PRFAAS_ASSERT(id >= 0 && id < capacity_);
  return slab_.get() + static_cast<size_t>(id) * block_bytes_;
}

}  // namespace prfaas::kv

#include "runtime/kv/block_pool.h"

#include <cstdlib>
#include <cstring>
#include <new>

#include "runtime/common/errc.h"

namespace prfaas::kv {

void block_pool::slab_deleter::operator()(std::byte* p) const { std::free(p); }

block_pool::block_pool(long block_bytes, int capacity_blocks)
    : block_bytes_(block_bytes), capacity_(capacity_blocks) {
  PRFAAS_REQUIRE(block_bytes > 0 && block_bytes % 64 == 0, "block size must be a multiple of 64");
  PRFAAS_REQUIRE(capacity_blocks > 0, "block pool needs at least one block");
  const size_t bytes = static_cast<size_t>(block_bytes) * capacity_blocks;
  void* p = std::aligned_alloc(64, bytes);
  if (!p) throw failure(errc::no_capacity, "cannot allocate " + std::to_string(bytes) + " bytes of KV blocks");
  std::memset(p, 0, bytes);  // pre-fault every page now, not on the hot path
  slab_.reset(static_cast<std::byte*>(p));
  free_.reserve(capacity_blocks);
  for (int id = capacity_blocks - 1; id >= 0; --id) free_.push_back(id);
  holders_.assign(capacity_blocks, 0);
}

std::optional<int> block_pool::allocate() {
  std::lock_guard lock(mutex_);
  if (free_.empty()) return std::nullopt;
  const int id = free_.back();
  free_.pop_back();
  holders_[id] = 1;
  return id;
}

void block_pool::retain(int id) {
  std::lock_guard lock(mutex_);
  PRFAAS_ASSERT(id >= 0 && id < capacity_ && holders_[id] > 0);
  ++holders_[id];
}

void block_pool::release(int id) {
  std::lock_guard lock(mutex_);
  PRFAAS_ASSERT(id >= 0 && id < capacity_ && holders_[id] > 0);
  if (--holders_[id] == 0) free_.push_back(id);
}

int block_pool::holders(int id) const {
  std::lock_guard lock(mutex_);
  PRFAAS_ASSERT(id >= 0 && id < capacity_);
  return holders_[id];
}

std::byte* block_pool::data(int id) const {
  PRFAAS_ASSERT(id >= 0 && id < capacity_);
  return slab_.get() + static_cast<size_t>(id) * block_bytes_;
}

int block_pool::free_blocks() const {
  std::lock_guard lock(mutex_);
  return static_cast<int>(free_.size());
}

}  // namespace prfaas::kv

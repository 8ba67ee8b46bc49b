#include "runtime/kv/block_ledger.h"

#include "runtime/common/errc.h"

namespace prfaas::kv {

block_ledger::block_ledger(int capacity) : capacity_(capacity) {
  PRFAAS_REQUIRE(capacity > 0, "block pool needs at least one block");
  free_.reserve(capacity);
  for (int id = capacity - 1; id >= 0; --id) free_.push_back(id);
  holders_.assign(capacity, 0);
}

std::optional<int> block_ledger::allocate() {
  std::lock_guard lock(mutex_);
  if (free_.empty()) return std::nullopt;
  const int id = free_.back();
  free_.pop_back();
  holders_[id] = 1;
  return id;
}

void block_ledger::retain(int id) {
  std::lock_guard lock(mutex_);
  PRFAAS_ASSERT(id >= 0 && id < capacity_ && holders_[id] > 0);
  ++holders_[id];
}

void block_ledger::release(int id) {
  std::lock_guard lock(mutex_);
  PRFAAS_ASSERT(id >= 0 && id < capacity_ && holders_[id] > 0);
  if (--holders_[id] == 0) free_.push_back(id);
}

int block_ledger::holders(int id) const {
  std::lock_guard lock(mutex_);
  PRFAAS_ASSERT(id >= 0 && id < capacity_);
  return holders_[id];
}

int block_ledger::free_blocks() const {
  std::lock_guard lock(mutex_);
  return static_cast<int>(free_.size());
}

}  // namespace prfaas::kv

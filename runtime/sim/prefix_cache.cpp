#include "runtime/sim/prefix_cache.h"

namespace prfaas::sim {

int prefix_cache::match(std::span<const uint32_t> blocks) {
  int n = 0;
  for (uint32_t b : blocks) {
    auto it = map_.find(b);
    if (it == map_.end()) break;
    lru_.splice(lru_.begin(), lru_, it->second);
    ++n;
  }
  return n;
}

void prefix_cache::insert(std::span<const uint32_t> blocks) {
  if (capacity_ <= 0) return;
  for (uint32_t b : blocks) {
    auto it = map_.find(b);
    if (it != map_.end()) {
      lru_.splice(lru_.begin(), lru_, it->second);
      continue;
    }
    lru_.push_front(b);
    map_[b] = lru_.begin();
    if (static_cast<long>(map_.size()) > capacity_) {
      map_.erase(lru_.back());
      lru_.pop_back();
    }
  }
}

}  // namespace prfaas::sim

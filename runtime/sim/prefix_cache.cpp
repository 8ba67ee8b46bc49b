#include "runtime/sim/prefix_cache.h"

#include <algorithm>

namespace prfaas::sim {

void prefix_cache::touch(entry& e) {
  lru_.splice(lru_.begin(), lru_, e.lru);
  e.lru = lru_.begin();
}

int prefix_cache::match(std::span<const uint32_t> blocks) {
  int cached = 0, usable = 0;
  for (uint32_t b : blocks) {
    auto it = map_.find(b);
    if (it == map_.end()) break;
    ++cached;
    if (it->second.snapshot) usable = cached;
  }
  for (int i = 0; i < usable; ++i) touch(map_.at(blocks[i]));
  return usable;
}

void prefix_cache::insert(std::span<const uint32_t> blocks, int reusable) {
  if (capacity_ <= 0) return;
  const int n = reusable < 0 ? static_cast<int>(blocks.size()) : std::min<int>(reusable, blocks.size());
  for (int i = 0; i < n; ++i) {
    const uint32_t b = blocks[i];
    auto it = map_.find(b);
    if (it == map_.end()) {
      entry e;
      if (i > 0 && map_.count(blocks[i - 1])) {
        e.parent = blocks[i - 1];
        e.has_parent = true;
        ++map_.at(e.parent).children;
      }
      lru_.push_front(b);
      e.lru = lru_.begin();
      it = map_.emplace(b, e).first;
    } else {
      touch(it->second);
    }
    const int count = i + 1;
    if (!it->second.snapshot && (count % shape_.snapshot_every_blocks == 0 || count == n)) {
      it->second.snapshot = true;
      ++snapshots_;
    }
  }
  evict_to_capacity();
}

void prefix_cache::evict_to_capacity() {
  while (!lru_.empty() && map_.size() + snapshots_ * shape_.snapshot_cost_blocks > capacity_) {
    auto it = lru_.end();
    do {
      --it;
    } while (it != lru_.begin() && map_.at(*it).children > 0);
    entry& e = map_.at(*it);
    if (e.has_parent)
      if (auto p = map_.find(e.parent); p != map_.end()) --p->second.children;
    snapshots_ -= e.snapshot;
    map_.erase(*it);
    lru_.erase(it);
  }
}

}  // namespace prfaas::sim

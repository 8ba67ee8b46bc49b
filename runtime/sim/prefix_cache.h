#pragma once
// A cluster's prefix cache in the simulator: LRU over block ids, capacity in blocks.  A prompt
// hits the longest leading run of its block ids that is cached.

#include <cstdint>
#include <list>
#include <span>
#include <unordered_map>

namespace prfaas::sim {

class prefix_cache {
 public:
  explicit prefix_cache(long capacity_blocks) : capacity_(capacity_blocks) {}
  // Leading blocks of `blocks` that are cached; refreshes them.
  int match(std::span<const uint32_t> blocks);
  // Caches every block (a prefill just produced them), evicting the least recently used.
  void insert(std::span<const uint32_t> blocks);
  long size() const { return static_cast<long>(map_.size()); }

 private:
  long capacity_;
  std::list<uint32_t> lru_;  // front: most recent
  std::unordered_map<uint32_t, std::list<uint32_t>::iterator> map_;
};

}  // namespace prfaas::sim

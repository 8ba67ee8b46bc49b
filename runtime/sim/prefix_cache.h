#pragma once
// A cluster's prefix cache in the simulator, with the live cache's hybrid rule (kv::prefix_cache)
// over trace block ids: a prefix is usable only up to a block that carries a linear-state
// snapshot, snapshots are taken every `snapshot_every_blocks` blocks and at the end of each
// inserted prompt's reusable part, and eviction takes the least recently used leaf (a chain only
// loses its last block).  Capacity is in blocks; a snapshot costs `snapshot_cost_blocks` of it.
// The defaults (a snapshot at every block, for free) give a plain LRU prefix cache.

#include <cstdint>
#include <list>
#include <span>
#include <unordered_map>

namespace prfaas::sim {

struct cache_shape {
  int snapshot_every_blocks = 1;
  double snapshot_cost_blocks = 0;
};

class prefix_cache {
 public:
  explicit prefix_cache(long capacity_blocks, cache_shape shape = {}) : capacity_(capacity_blocks), shape_(shape) {}
  // Leading blocks of `blocks` that are usable (cached, ending at a snapshot); refreshes them.
  int match(std::span<const uint32_t> blocks);
  // Caches the first `reusable` blocks (all when negative) with their snapshots, evicting the
  // least recently used leaves beyond capacity.
  void insert(std::span<const uint32_t> blocks, int reusable = -1);
  long size() const { return static_cast<long>(map_.size()); }
  long snapshots() const { return snapshots_; }

 private:
  struct entry {
    uint32_t parent = 0;
    bool has_parent = false;
    bool snapshot = false;
    int children = 0;
    std::list<uint32_t>::iterator lru;
  };
  void touch(entry& e);
  void evict_to_capacity();

  long capacity_;
  cache_shape shape_;
  long snapshots_ = 0;
  std::list<uint32_t> lru_;  // front: most recent
  std::unordered_map<uint32_t, entry> map_;
};

}  // namespace prfaas::sim

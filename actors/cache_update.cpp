#include "actors/cache_update.hpp"

namespace prfaas::actors {

cache_update make_cache_update(const node_info& self, const kv::prefix_cache& cache, kv::cache_delta delta, bool reset) {
  cache_update m;
  m.node = self.name;
  m.cluster = self.cluster;
  m.reset = reset;
  m.added_blocks = std::move(delta.added_blocks);
  m.removed_blocks = std::move(delta.removed_blocks);
  m.added_snapshots = std::move(delta.added_snapshots);
  m.removed_snapshots = std::move(delta.removed_snapshots);
  const auto& s = cache.stats();
  m.stats = {self.name, s.bytes, s.blocks, s.snapshots, s.lookups, s.hits, s.lookup_tokens, s.hit_tokens, s.evictions};
  return m;
}

}  // namespace prfaas::actors

#include "actors/cache_update.hpp"

#include <caf/all.hpp>
#include <spdlog/spdlog.h>

#include "runtime/transport/prefix_move.h"

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

cache_update whole_cache_update(const node_info& self, kv::prefix_cache& cache) {
  (void)cache.take_delta();
  return make_cache_update(self, cache, cache.everything(), true);
}

caf::result<int32_t> serve_cache_push(const node_info& self, kv::prefix_cache& cache, const model::model_config& config,
                                      kv::block_pool& pool, transport::link_pool& links, const cache_push& m) {
  try {
    auto link = links.get(m.endpoint);
    const auto& o = links.options();
    transport::push_prefix(cache, config.kv_layout(), pool, *link, m.request, m.prompt, m.tokens,
                           std::chrono::steady_clock::now() + 2 * o.receive_timeout + o.resume_timeout);
    spdlog::info("{}: request {}: {} cached tokens sent to {}", self.name, m.request, m.tokens, m.endpoint);
    return m.tokens;
  } catch (const failure& f) {
    return caf::make_error(f.code(), self.name + ": " + f.what());
  }
}

}  // namespace prfaas::actors

#pragma once
// What a caching node (prefill or decode) says about its prefix cache: the cache_update it sends
// the cache directory after the cache changed (the delta, and the statistics `prfaas status`
// reads through the router), and its answer to a cache_push (send a cached prefix to a pulling node).

#include <caf/fwd.hpp>

#include "actors/messages.hpp"
#include "runtime/kv/prefix_cache.h"
#include "runtime/model/config.h"
#include "runtime/transport/link_pool.h"

namespace prfaas::actors {

cache_update make_cache_update(const node_info& self, const kv::prefix_cache& cache, kv::cache_delta delta, bool reset);
// The whole cache, as a directory that knows nothing of the node needs it (reset = true); the
// delta pending until now is dropped, its changes being in the whole.
cache_update whole_cache_update(const node_info& self, kv::prefix_cache& cache);

// Sends the pushed prefix over `links` and waits until it is written; the tokens sent, or the
// failure as a CAF error naming the node.
caf::result<int32_t> serve_cache_push(const node_info& self, kv::prefix_cache& cache, const model::model_config& config,
                                      kv::block_pool& pool, transport::link_pool& links, const cache_push& m);

}  // namespace prfaas::actors

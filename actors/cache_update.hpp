#pragma once
// The cache_update a caching node (prefill or decode) sends the router after its prefix cache
// changed: the delta for the directory and the cache's statistics for `prfaas status`.

#include "actors/messages.hpp"
#include "runtime/kv/prefix_cache.h"

namespace prfaas::actors {

cache_update make_cache_update(const node_info& self, const kv::prefix_cache& cache, kv::cache_delta delta, bool reset);

}  // namespace prfaas::actors

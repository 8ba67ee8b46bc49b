#pragma once
// A prefill that starts from a node's prefix cache and feeds it back.
//
//   1. restore the longest usable hit of the prompt (shared blocks, copied linear states);
//   2. compute only the uncached suffix, in chunks that end at the cache's snapshot points, so
//      the linear states can be snapshot at exact block boundaries;
//   3. insert the prompt's full blocks and the snapshots into the cache.
//
// The layer hook runs only during the last chunk: after layer l of that chunk, every block and
// the final state of layer l are complete, so the transport streams layer by layer as before.
// Kernels compute each position in one fixed order whatever the chunking, so the logits (and
// greedy output) are bit-identical to a cold one-shot prefill.  With `cache` null this is a
// plain prefill.

#include <span>
#include <vector>

#include "runtime/kv/prefix_cache.h"
#include "runtime/model/hybrid_model.h"

namespace prfaas::model {

struct cached_prefill_result {
  std::vector<float> logits;   // of the prompt's last token
  int cached_tokens = 0;       // restored from the cache
  int computed_tokens = 0;     // the prompt less the cached prefix
};

// `kv` must be empty.  Throws what prefill and the pool throw (failure(no_capacity), ...).
cached_prefill_result cached_prefill(const hybrid_model& model, kv::prefix_cache* cache,
                                     std::span<const int32_t> prompt, kv::sequence_kv& kv,
                                     const hybrid_model::layer_hook& hook = {});

}  // namespace prfaas::model

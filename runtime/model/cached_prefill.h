#pragma once
// A prefill that starts from a node's prefix cache and feeds it back.
//
//   1. restore the longest usable hit of the prompt (shared blocks, copied linear states);
//   2. compute only the uncached suffix, in chunks that end at the cache's snapshot points, so
//      the linear states can be snapshot at exact block boundaries;
//   3. insert the prompt's full blocks and the snapshots into the cache.
//
// KV streams as it becomes final, through `on_final(layer, first, end)` (payloads [first, end)
// of that layer): the cached blocks at once, each chunk's full blocks after that chunk's layer,
// the last blocks and the linear states after the last chunk's layer.  So layer k is on the
// wire while layer k+1 computes, chunk after chunk.
// Kernels compute each position in one fixed order whatever the chunking, so the logits (and
// greedy output) are bit-identical to a cold one-shot prefill.  With `cache` null this is a
// plain prefill.

#include <functional>
#include <span>
#include <vector>

#include "runtime/kv/prefix_cache.h"
#include "runtime/model/hybrid_model.h"

namespace prfaas::model {

using payload_hook = std::function<void(int layer, int first, int end)>;

struct cached_prefill_result {
  std::vector<float> logits;   // of the prompt's last token
  int cached_tokens = 0;       // restored from the cache
  int computed_tokens = 0;     // the prompt less the cached prefix
};

// `after_layer(layer)` runs after every layer of every chunk and may throw to stop the prefill
// there (a job past its deadline); nothing is cached then.
//
// `kv` must be empty.  Throws what prefill and the pool throw (failure(no_capacity), ...).
cached_prefill_result cached_prefill(const hybrid_model& model, kv::prefix_cache* cache,
                                     std::span<const int32_t> prompt, kv::sequence_kv& kv,
                                     const payload_hook& on_final = {},
                                     const std::function<void(int layer)>& after_layer = {});

// The same over any forward pass with hybrid_model::prefill's contract (append the tokens to kv
// layer by layer, call the hook as each layer is final, return the last token's logits): the
// emulated engine plays a profile back through it.
using forward_fn = std::function<std::vector<float>(std::span<const int32_t> tokens, kv::sequence_kv& kv,
                                                    const hybrid_model::layer_hook& hook)>;
cached_prefill_result cached_prefill(const model_config& config, const forward_fn& forward, kv::prefix_cache* cache,
                                     std::span<const int32_t> prompt, kv::sequence_kv& kv,
                                     const payload_hook& on_final = {},
                                     const std::function<void(int layer)>& after_layer = {});

}  // namespace prfaas::model

#include "runtime/model/cached_prefill.h"

#include "runtime/common/errc.h"

namespace prfaas::model {

cached_prefill_result cached_prefill(const hybrid_model& model, kv::prefix_cache* cache,
                                     std::span<const int32_t> prompt, kv::sequence_kv& kv,
                                     const payload_hook& on_final,
                                     const std::function<void(int layer)>& after_layer) {
  const forward_fn forward = [&model](std::span<const int32_t> tokens, kv::sequence_kv& kv,
                                      const hybrid_model::layer_hook& hook) { return model.prefill(tokens, kv, hook); };
  return cached_prefill(model.config(), forward, cache, prompt, kv, on_final, after_layer);
}

cached_prefill_result cached_prefill(const model_config& c, const forward_fn& forward, kv::prefix_cache* cache,
                                     std::span<const int32_t> prompt, kv::sequence_kv& kv,
                                     const payload_hook& on_final,
                                     const std::function<void(int layer)>& after_layer) {
  PRFAAS_REQUIRE(!prompt.empty(), "prefill needs at least one token");
  PRFAAS_REQUIRE(kv.tokens() == 0, "a cached prefill starts from an empty sequence");
  const int block = c.block_tokens;
  const int total = static_cast<int>(prompt.size());
  // After layer l of the chunk [from, to): what of layer l is final now.  Chunks start and end
  // at block boundaries, except the last, which ends the prompt.
  auto stream = [&](int layer, int from, int to, bool last) {
    if (after_layer) after_layer(layer);
    if (!on_final) return;
    if (c.kind(layer) == layer_kind::full) {
      const int first = from / block, end = last ? c.blocks_for(total) : to / block;
      if (end > first) on_final(layer, first, end);
    } else if (last) {
      on_final(layer, 0, 1);
    }
  };
  cached_prefill_result out;
  if (!cache) {
    out.logits = forward(prompt, kv, [&](int l) { stream(l, 0, total, true); });
    out.computed_tokens = total;
    return out;
  }
  const auto chain = kv::reusable_chain(prompt, block);
  out.cached_tokens = cache->restore(chain, kv);
  out.computed_tokens = total - out.cached_tokens;
  cache->make_room(c.full_layers() * (c.blocks_for(total) - out.cached_tokens / block));
  kv.reserve(total);
  for (int l = 0; l < c.n_layers; ++l)
    if (c.kind(l) == layer_kind::full) stream(l, 0, out.cached_tokens, false);  // cached blocks: final already
  std::vector<kv::state_snapshot> snapshots;
  int pos = out.cached_tokens;
  for (int point : cache->snapshot_points(pos / block, static_cast<int>(chain.size()))) {
    const int end = point * block;  // < total: the chain leaves the last token out
    forward(prompt.subspan(pos, end - pos), kv, [&](int l) { stream(l, pos, end, false); });
    snapshots.push_back(kv::prefix_cache::take(kv));
    pos = end;
  }
  out.logits = forward(prompt.subspan(pos), kv, [&](int l) { stream(l, pos, total, true); });
  cache->insert(chain, kv, std::move(snapshots));
  return out;
}

}  // namespace prfaas::model

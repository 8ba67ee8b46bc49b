#include "runtime/model/cached_prefill.h"

#include "runtime/common/errc.h"

namespace prfaas::model {

cached_prefill_result cached_prefill(const hybrid_model& model, kv::prefix_cache* cache,
                                     std::span<const int32_t> prompt, kv::sequence_kv& kv,
                                     const hybrid_model::layer_hook& hook) {
  PRFAAS_REQUIRE(!prompt.empty(), "prefill needs at least one token");
  PRFAAS_REQUIRE(kv.tokens() == 0, "a cached prefill starts from an empty sequence");
  cached_prefill_result out;
  if (!cache) {
    out.logits = model.prefill(prompt, kv, hook);
    out.computed_tokens = static_cast<int>(prompt.size());
    return out;
  }
  const int block = model.config().block_tokens;
  const auto chain = kv::reusable_chain(prompt, block);
  out.cached_tokens = cache->restore(chain, kv);
  out.computed_tokens = static_cast<int>(prompt.size()) - out.cached_tokens;
  kv.reserve(static_cast<int>(prompt.size()));
  std::vector<kv::state_snapshot> snapshots;
  int pos = out.cached_tokens;
  for (int point : cache->snapshot_points(pos / block, static_cast<int>(chain.size()))) {
    const int end = point * block;  // < prompt.size(): the chain leaves the last token out
    model.prefill(prompt.subspan(pos, end - pos), kv);
    snapshots.push_back(kv::prefix_cache::take(kv));
    pos = end;
  }
  out.logits = model.prefill(prompt.subspan(pos), kv, hook);
  cache->insert(chain, kv, std::move(snapshots));
  return out;
}

}  // namespace prfaas::model

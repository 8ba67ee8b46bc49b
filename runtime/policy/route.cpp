#include "runtime/policy/route.h"

#include <algorithm>

namespace prfaas::policy {

const char* to_string(prefill_path p) { return p == prefill_path::prfaas ? "prfaas" : "local"; }

namespace {

// The node of the wanted cluster that serves: the longest own cache hit, unless it is more than
// kAffinitySlack prefills busier than the least loaded node (first on ties).
int pick_prefill(std::span<const prefill_candidate> nodes, bool prfaas) {
  int least = -1, affine = -1;
  for (int i = 0; i < static_cast<int>(nodes.size()); ++i) {
    const auto& n = nodes[i];
    if (!n.accepting || n.prfaas != prfaas) continue;
    if (least < 0 || n.in_flight < nodes[least].in_flight) least = i;
    if (n.cached_tokens > 0 &&
        (affine < 0 || n.cached_tokens > nodes[affine].cached_tokens ||
         (n.cached_tokens == nodes[affine].cached_tokens && n.in_flight < nodes[affine].in_flight)))
      affine = i;
  }
  if (affine >= 0 && nodes[affine].in_flight <= nodes[least].in_flight + kAffinitySlack) return affine;
  return least;
}

// The decode node with room: the longest own hit (the KV it need not receive), unless it holds
// more than kAffinitySlack sequences beyond the least occupied node (lowest active/capacity,
// compared without division; first on ties).
int pick_decode(std::span<const decode_candidate> nodes) {
  int least = -1, affine = -1;
  for (int i = 0; i < static_cast<int>(nodes.size()); ++i) {
    const auto& n = nodes[i];
    if (n.active >= n.capacity) continue;
    if (least < 0 || static_cast<long>(n.active) * nodes[least].capacity <
                         static_cast<long>(nodes[least].active) * n.capacity)
      least = i;
    if (n.cached_tokens > 0 &&
        (affine < 0 || n.cached_tokens > nodes[affine].cached_tokens ||
         (n.cached_tokens == nodes[affine].cached_tokens && n.active < nodes[affine].active)))
      affine = i;
  }
  if (affine >= 0 && nodes[affine].active <= nodes[least].active + kAffinitySlack) return affine;
  return least;
}

}  // namespace

std::optional<route_decision> route(const route_request& request,
                                    std::span<const prefill_candidate> prefills,
                                    std::span<const decode_candidate> decodes) {
  route_decision d;
  const int prefix = request.bandwidth_abundant
                         ? std::max(request.cached_local_tokens, request.cached_prfaas_tokens)
                         : request.cached_local_tokens;
  d.uncached_tokens = request.prompt_tokens - prefix;
  const bool offload = d.uncached_tokens > request.threshold_tokens;
  d.path = offload ? prefill_path::prfaas : prefill_path::local;
  d.prefill = pick_prefill(prefills, offload);
  if (d.prefill < 0) {
    d.fallback = true;
    d.path = offload ? prefill_path::local : prefill_path::prfaas;
    d.prefill = pick_prefill(prefills, !offload);
  }
  if (d.prefill < 0) return std::nullopt;

  d.decode = pick_decode(decodes);
  if (d.decode < 0) return std::nullopt;
  return d;
}

}  // namespace prfaas::policy

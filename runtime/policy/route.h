#pragma once
// The per-request routing rule (PAPER.md §6, short timescale), as a plain function that the
// live router calls and that the simulator will call.
//
// With l_total the prompt length and l_local, l_prfaas the prefix cached in each cluster, the
// uncached length is l = l_total - l_local when bandwidth is scarce (a PrfaaS-side hit is not
// worth a cross-cluster cache move) and l = l_total - max(l_local, l_prfaas) when it is abundant
// (the longer hit is moved to where the request runs).  l > threshold goes to a PrfaaS prefill node, else to a
// local prefill node; inside the cluster the cache-affine node (the longest own hit), unless it
// is more than kAffinitySlack prefills busier than the least loaded one, which then serves; the
// decode node is the one with room holding the longest prefix of the prompt (it then receives
// only the rest of the KV), unless it holds more than kAffinitySlack sequences beyond the least
// occupied one, which then serves.  When a cluster has no prefill node at all, the other cluster serves
// (marked `fallback`), so a deployment degrades instead of refusing.

#include <optional>
#include <span>
#include <string>

namespace prfaas::policy {

enum class prefill_path { prfaas, local };
const char* to_string(prefill_path p);

struct prefill_candidate {
  bool prfaas = false;     // in the PrfaaS cluster (else the local PD cluster)
  int in_flight = 0;       // prefills assigned and not finished
  bool accepting = true;   // false while draining (e.g. being converted to decode)
  int cached_tokens = 0;   // this node's own cached prefix of the prompt
};

// How far cache affinity may override load: the cache-affine node is taken unless it holds
// more than this many prefills beyond the least loaded node of its cluster.
inline constexpr int kAffinitySlack = 2;

struct decode_candidate {
  int active = 0;          // sequences held (reserved or decoding)
  int capacity = 1;        // most sequences it takes at once
  int cached_tokens = 0;   // this node's own cached prefix of the prompt
};

struct route_request {
  int prompt_tokens = 0;
  int cached_local_tokens = 0;   // from the cache directory
  int threshold_tokens = 0;      // t
  int cached_prfaas_tokens = 0;  // the same prefix's hit in the PrfaaS cluster
  bool bandwidth_abundant = false;  // then the longer of both hits counts (it can be moved)
};

struct route_decision {
  prefill_path path = prefill_path::local;
  int prefill = -1;              // index into the prefill candidates
  int decode = -1;               // index into the decode candidates
  int uncached_tokens = 0;
  bool fallback = false;         // the preferred cluster had no prefill node
};

// std::nullopt when no prefill node or no decode node with room exists.
std::optional<route_decision> route(const route_request& request,
                                    std::span<const prefill_candidate> prefills,
                                    std::span<const decode_candidate> decodes);

}  // namespace prfaas::policy

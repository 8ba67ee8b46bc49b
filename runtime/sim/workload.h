#pragma once
// Requests for the simulator: generated (Poisson or on/off arrivals, log-normal lengths) or
// replayed from a trace (../shared/traces format: timestamp ms, input_length, output_length,
// hash_ids with one id per 512-token block; shared leading ids are shared prefixes).

#include <cstdint>
#include <string>
#include <vector>

#include "runtime/sim/prefix_cache.h"
#include "runtime/sim/scenario.h"

namespace prfaas::sim {

struct request {
  double arrival_s = 0;
  int input_tokens = 0;
  int output_tokens = 0;
  std::vector<uint32_t> blocks;  // prefix-cache block ids; empty: shares nothing
};

// Throws failure(bad_config) naming the line of a malformed record. At most `limit` requests.
std::vector<request> load_trace(const std::string& path, size_t limit = SIZE_MAX);

// Each request's uncached length after prefix-cache hits, replaying the requests in order through
// one cache of `cache_blocks` blocks (0: no cache, every token uncached).  The planner's empirical
// length distribution for a trace.
std::vector<double> uncached_lengths(const std::vector<request>& requests, long cache_blocks, int block_tokens,
                                     cache_shape shape = {});

// Blocks of a request a cache may keep: its full blocks before the last token (whose logits are
// always computed), as the live cache keeps them (kv::reusable_chain).
int reusable_blocks(const request& r, int block_tokens);

// `n` requests at `rate` per second from the scenario's length distribution and arrival process.
std::vector<request> generate(const scenario& s, int n, double rate, uint64_t seed);

}  // namespace prfaas::sim

#pragma once
// Moving a cached prefix from one node's prefix cache to another's over the data plane (the
// router's pull_cache): the same frames, the same links and receivers as a prefill's KV.
//
//   holder:    push_prefix(cache, model.kv_layout(), pool, link, request, prompt, tokens);  // restore, send, flush
//   receiver:  pulled_prefix pull(model.kv_layout(), pool, prompt, tokens);
//              receiver.expect(request, pull.target());  ...complete...
//              pull.commit(cache);                       // the prefix is now in its cache
//
// `tokens` is a whole number of blocks with a state snapshot there (a hit as prefix_cache
// reports it).  The receiving sequence holds exactly those blocks and states; commit() inserts
// them under the prompt's chain keys with one snapshot at their end.

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "runtime/kv/prefix_cache.h"
#include "runtime/transport/carrier.h"
#include "runtime/transport/transfer.h"

namespace prfaas::transport {

// Sends the first `tokens` of `prompt` from `cache` over `link` as request `request`, and
// waits until the receiver confirmed it all (the restored blocks are released after).  Throws
// failure(no_capacity) when the cache no longer holds that prefix (evicted since the directory
// heard of it), or what the link throws (deadline_exceeded past `deadline`).
void push_prefix(kv::prefix_cache& cache, const kv::layout& shape, kv::block_pool& pool, carrier_link& link,
                 uint64_t request, std::span<const int32_t> prompt, int tokens,
                 std::chrono::steady_clock::time_point deadline);

class pulled_prefix {
 public:
  // Reserves the blocks for `tokens` (throws failure(no_capacity) when the pool is short).
  pulled_prefix(const kv::layout& shape, kv::block_pool& pool, std::vector<int32_t> prompt, int tokens);
  transfer_view& target() { return *transfer_; }
  int tokens() const { return tokens_; }
  // After the transfer completed: the prefix goes into `cache`.
  void commit(kv::prefix_cache& cache);

 private:
  std::vector<int32_t> prompt_;
  int tokens_;
  std::unique_ptr<kv::sequence_kv> kv_;
  std::unique_ptr<sequence_transfer> transfer_;
};

}  // namespace prfaas::transport

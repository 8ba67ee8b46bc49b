#pragma once
// The hybrid KV state of one sequence: full-attention KV in pool blocks (one block table per
// full layer) and one fixed-size recurrent state per linear layer.
//
// It is also the unit the transport moves: layer l has payload_count(l) payloads (its blocks,
// or its one state), each addressed by (layer, index), each an 8-byte-aligned byte span that the
// sender references in place and the receiver lands in place.
//
// Owned by one actor at a time; its blocks are released on destruction (the pool frees a block
// when its last holder, a sequence or the prefix cache, lets go).

#include <cstddef>
#include <span>
#include <vector>

#include "runtime/kv/block_pool.h"
#include "runtime/kv/kv_layout.h"

namespace prfaas::kv {

class sequence_kv {
 public:
  sequence_kv(const kv::layout& shape, block_pool& pool);
  ~sequence_kv();
  sequence_kv(const sequence_kv&) = delete;
  sequence_kv& operator=(const sequence_kv&) = delete;

  // Makes room for `tokens` positions on every full layer.  Throws failure(no_capacity) when the
  // pool runs out; blocks taken so far stay with the sequence and are freed with it.
  void reserve(int tokens);

  int tokens() const { return tokens_; }           // positions holding valid KV
  void set_tokens(int tokens);                     // after a prefill or a received transfer

  const std::vector<float*>& blocks(int layer) const { return block_ptrs_[layer]; }
  const std::vector<int>& block_ids(int layer) const { return block_ids_[layer]; }

  // Starts an empty sequence from a cached prefix: `ids[layer]` are full blocks shared with
  // their holder (each is retained, never written: new tokens go to blocks after them), and
  // `states[layer]` the linear layers' state at exactly `tokens` positions (copied: it changes).
  // `tokens` must be a whole number of blocks.  Blocks already reserved for those positions go
  // back to the pool.  A null state leaves that layer's state as it is (a transfer lands it).
  void adopt_prefix(int tokens, const std::vector<std::vector<int>>& ids,
                    const std::vector<const std::vector<float>*>& states);
  float* linear_state(int layer) { return states_[layer].data(); }
  const std::vector<float>& linear_state_vector(int layer) const { return states_[layer]; }

  // Transport view: the payloads that hold the first tokens() positions.
  int payload_count(int layer) const;
  std::span<std::byte> payload(int layer, int index);
  long total_payload_bytes() const;

  const kv::layout& layout() const { return layout_; }

 private:
  const kv::layout layout_;  // a copy: small, and no borrowed model
  block_pool& pool_;
  int tokens_ = 0;
  int reserved_tokens_ = 0;
  std::vector<std::vector<int>> block_ids_;      // [layer] -> pool ids (full layers)
  std::vector<std::vector<float*>> block_ptrs_;  // [layer] -> block memory (full layers)
  std::vector<std::vector<float>> states_;       // [layer] -> state (linear layers)
};

}  // namespace prfaas::kv

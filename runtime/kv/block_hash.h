#pragma once
// Keys of full-attention KV blocks for prefix caching.  A block's key hashes its tokens chained
// to its parent's key, so one key stands for the whole prefix up to the block's end: two
// prompts share a key exactly when they share every token before it (up to a 64-bit hash
// collision).  The nodes' caches and the cache directory key blocks the same way.

#include <cstdint>
#include <span>
#include <vector>

namespace prfaas::kv {

// Keys of the full blocks of `tokens` (a partial last block has no key).
std::vector<uint64_t> block_hash_chain(std::span<const int32_t> tokens, int block_tokens);

// Keys of the blocks a prompt can reuse: the prompt less its last token, whose logits must be
// computed whatever is cached.
std::vector<uint64_t> reusable_chain(std::span<const int32_t> prompt, int block_tokens);

}  // namespace prfaas::kv

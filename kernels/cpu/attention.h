#pragma once
// Causal grouped-query attention over a KV cache held in fixed-size token blocks.
//
// Block layout (one block of one full-attention layer), f32:
//   K transposed, K[kv_heads][head_dim][block_tokens], then V[block_tokens][kv_heads][head_dim].
// Keys are stored transposed so a query's scores against a block are a sweep over head_dim rows
// of block_tokens lanes (no transpose when reading, no horizontal sums); values stay by token.
// Query head h reads KV head h / (heads / kv_heads).
//
// Blocked with an online softmax: a tile of queries of one KV head's group walks the cache one
// block at a time (so every KV head is read once per tile, not once per query head and
// position), scores are a vector per key block, the softmax
// keeps a running max and sum (rescaling the output when the max grows), exponentials are a
// vectorised polynomial (exp_poly below).
//
// Exact across paths: a query's arithmetic depends only on its own vector, its position and the
// keys before it (blocks are aligned to absolute positions, a query's last block is cut at its
// position), never on the other queries in its tile.  So a position decoded alone, in a batch,
// or inside a prefill of any length gets the same bits: the project's byte-for-byte checks rely
// on it.

#include "kernels/cpu/exp_poly.h"

namespace prfaas::kernels {

struct kv_block_view {
  const float* const* blocks;  // blocks[b] points at block b; not owned
  int block_tokens;
  int kv_heads;
  int head_dim;
};

// Floats per block for this shape (K and V).
inline long kv_block_floats(int block_tokens, int kv_heads, int head_dim) {
  return 2L * block_tokens * kv_heads * head_dim;
}

// Writes one position's keys and values (k, v: [kv_heads][head_dim]) into slot `slot` of a block.
void store_kv(float* block, int slot, const float* k, const float* v, int block_tokens, int kv_heads, int head_dim);

// Prefill form: rows queries at positions first_position .. first_position+rows-1, each seeing
// the cache up to and including its own position.  q: [rows][heads][head_dim], out likewise.
// Decode is the same call with rows = 1.
void attend_causal(const float* q, int rows, int heads, const kv_block_view& kv,
                   int first_position, float* out);

}  // namespace prfaas::kernels

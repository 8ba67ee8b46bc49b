#pragma once
// Causal grouped-query attention over a KV cache held in fixed-size token blocks.
//
// Block layout (one block of one full-attention layer):
//   K[block_tokens][kv_heads][head_dim] followed by V[block_tokens][kv_heads][head_dim], f32.
// Query head h reads KV head h / (heads / kv_heads).
//
// Blocked with an online softmax: a tile of queries of one KV head's group walks the cache one
// block at a time; each block's keys are transposed once for the whole tile (so every KV head is
// read once per tile, not once per query head), scores are a vector per key block, the softmax
// keeps a running max and sum (rescaling the output when the max grows), exponentials are a
// vectorised polynomial (exp_poly below).
//
// Exact across paths: a query's arithmetic depends only on its own vector, its position and the
// keys before it (blocks are aligned to absolute positions, a query's last block is cut at its
// position), never on the other queries in its tile.  So a position decoded alone, in a batch,
// or inside a prefill of any length gets the same bits: the project's byte-for-byte checks rely
// on it.

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

// Prefill form: rows queries at positions first_position .. first_position+rows-1, each seeing
// the cache up to and including its own position.  q: [rows][heads][head_dim], out likewise.
// Decode is the same call with rows = 1.
void attend_causal(const float* q, int rows, int heads, const kv_block_view& kv,
                   int first_position, float* out);

// exp(x) by range reduction and a degree-6 polynomial (about 1 ulp on the softmax's range);
// exactly 0 below -87 (so a masked score of -inf contributes nothing) and exactly 1 at 0.
// Inline so loops over it vectorise.
inline float exp_poly(float x) {
  const float big = 12582912.0f;                 // 1.5 * 2^23: adding it rounds to an integer
  const float xc = x < -87.0f ? -87.0f : (x > 88.0f ? 88.0f : x);
  const float n = (xc * 1.44269504088896341f + big) - big;
  const float r = (xc - n * 0.693359375f) - n * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  union { int i; float f; } scale{(static_cast<int>(n) + 127) << 23};
  return x < -87.0f ? 0.0f : p * scale.f;
}

}  // namespace prfaas::kernels

#pragma once
// Causal grouped-query attention over a KV cache held in fixed-size token blocks.
//
// Block layout (one block of one full-attention layer):
//   K[block_tokens][kv_heads][head_dim] followed by V[block_tokens][kv_heads][head_dim], f32.
// Query head h reads KV head h / (heads / kv_heads).

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

// out[heads][head_dim] = softmax(q·K^T / sqrt(head_dim)) · V over the first `context` tokens.
// q: [heads][head_dim]; scratch: at least `context` floats.
void attend(const float* q, int heads, const kv_block_view& kv, int context, float* out,
            float* scratch);

// Prefill form: rows queries at positions first_position .. first_position+rows-1, each seeing
// the cache up to and including its own position.  q: [rows][heads][head_dim], out likewise.
void attend_causal(const float* q, int rows, int heads, const kv_block_view& kv,
                   int first_position, float* out);

}  // namespace prfaas::kernels

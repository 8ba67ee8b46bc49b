#pragma once
// Gated delta rule, the recurrence of Gated DeltaNet (Qwen3-Next's linear attention layers).
//
// Per head, with state S of shape [value_dim][key_dim], decay alpha = exp(g) in (0,1), rate
// beta in (0,1), unit-length key k and query q (scaled by 1/sqrt(key_dim) by the caller):
//   S <- alpha * S * (I - beta k k^T) + beta v k^T
//      = alpha S + beta (v - alpha S k) k^T
//   o  = S q
// The state has a fixed size whatever the sequence length: that is what makes the hybrid
// model's KV small enough to cross clusters.
//
// Stored transposed, St = S^T: [key_dim][value_dim], so every step is a sweep over key_dim rows
// of value_dim lanes (S k and the update with its output are each one pass, vectorised across
// the value lanes, no horizontal sums).  Each lane's arithmetic is a fixed sequence over the
// keys, so a token's state and output have the same bits whether it runs alone (decode) or
// inside a prefill.  The recurrent form is kept for prefill too: the chunked form would give a
// prefilled token other bits than the same token decoded, and the project compares greedy
// output byte for byte across those paths.

namespace prfaas::kernels {

// Runs `rows` consecutive tokens through the recurrence, updating `state` in place.
// state: [heads][key_dim][value_dim] (S transposed per head: the reference's layout);
// q, k: rows of `qk_stride` floats, key head j at offset j * key_dim (k unit length); value head
// h reads key head h / (heads / key_heads); v: rows of `v_stride` floats, head h at h * value_dim;
// alpha, beta: [rows][heads]; out: [rows][heads][value_dim].  value_dim at most 1024.
void gated_delta_rule(float* state, const float* q, const float* k, long qk_stride, int key_heads,
                      const float* v, long v_stride, const float* alpha, const float* beta, int rows,
                      int heads, int key_dim, int value_dim, float* out);

}  // namespace prfaas::kernels

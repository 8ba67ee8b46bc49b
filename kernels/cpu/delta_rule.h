#pragma once
// Gated delta rule, the linear-attention recurrence of the tiny model's linear layers.
//
// Per head, with state S of shape [value_dim][key_dim], gate alpha in (0,1), rate beta in (0,1),
// and unit-length key k:
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
// state: [heads][key_dim][value_dim] (S transposed per head); q, k: [rows][heads][key_dim]
// (k unit length); v: [rows][heads][value_dim]; alpha, beta: [rows][heads];
// out: [rows][heads][value_dim].  value_dim at most 1024.
void gated_delta_rule(float* state, const float* q, const float* k, const float* v,
                      const float* alpha, const float* beta, int rows, int heads, int key_dim,
                      int value_dim, float* out);

}  // namespace prfaas::kernels

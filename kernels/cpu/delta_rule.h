#pragma once
// Gated delta rule, the linear-attention recurrence of the tiny model's linear layers.
//
// Per head, with state S of shape [value_dim][key_dim], gate alpha in (0,1), rate beta in (0,1),
// and unit-length key k:
//   S <- alpha * S * (I - beta k k^T) + beta v k^T
//      = S' + beta (v - S' k) k^T,   where S' = alpha S
//   o  = S q
// The state has a fixed size whatever the sequence length: that is what makes the hybrid
// model's KV small enough to cross clusters.

namespace prfaas::kernels {

// Runs `rows` consecutive tokens through the recurrence, updating `state` in place.
// state: [heads][value_dim][key_dim]; q, k: [rows][heads][key_dim] (k unit length);
// v: [rows][heads][value_dim]; alpha, beta: [rows][heads]; out: [rows][heads][value_dim].
void gated_delta_rule(float* state, const float* q, const float* k, const float* v,
                      const float* alpha, const float* beta, int rows, int heads, int key_dim,
                      int value_dim, float* out);

}  // namespace prfaas::kernels

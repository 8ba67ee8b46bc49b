#pragma once
// Rotary position embedding, "rotate half" form over the first `rotary_dim` dims of each head
// (partial rotary: the rest pass through): pairs (i, i + rotary_dim/2), frequency
// theta^(-2i / rotary_dim).

namespace prfaas::kernels {

// x: [rows][heads][head_dim], in place; row r sits at position first_position + r.
void rope(float* x, int rows, int heads, int head_dim, int rotary_dim, int first_position, float theta);

}  // namespace prfaas::kernels

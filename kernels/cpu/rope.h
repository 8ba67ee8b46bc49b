#pragma once
// Rotary position embedding, "rotate half" form: pairs (i, i + head_dim/2) of each head.

namespace prfaas::kernels {

// x: [rows][heads][head_dim], in place; row r sits at position first_position + r.
void rope(float* x, int rows, int heads, int head_dim, int first_position, float theta);

}  // namespace prfaas::kernels

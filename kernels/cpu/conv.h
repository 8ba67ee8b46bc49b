#pragma once
// The short causal convolution of Gated DeltaNet: depthwise over time, kernel K, then SiLU.
//
// Channel c's output at row r is silu(sum_j w[j][c] * in[r - (K-1) + j][c]) for j = 0..K-1,
// the inputs before the first row coming from `state` (the last K-1 inputs of the sequence so
// far, oldest first); `state` is updated to the last K-1 inputs.  Each output is one fixed sum
// over its K inputs, so a token's bits do not depend on how a prompt was cut into chunks.

namespace prfaas::kernels {

// x: rows of `stride` floats whose first `channels` are convolved in place; w: [K][channels]
// (tap-major); state: [K-1][channels]; scratch: (rows + K - 1) * channels floats.
void causal_conv_silu(float* x, long stride, int rows, int channels, const float* w, int kernel, float* state,
                      float* scratch);

}  // namespace prfaas::kernels

#pragma once
// The former toy model's kernels on an NVIDIA GPU (no engine uses them now): the CPU kernels' (kernels/cpu/) math on device
// memory, one launch each on the caller's stream.  Every pointer is device memory.  Results
// match the CPU's within float rounding (summation orders differ); tests/gpu/ checks the
// tolerance and that greedy tokens agree.

#include <cuda_runtime_api.h>

#include <cstdint>

namespace prfaas::kernels::cuda {

// x[r] = table[tokens[r]] for r < rows; table: [vocab][d].
void embed(const int32_t* tokens, int rows, const float* table, int d, float* x, cudaStream_t s);
// y = x / sqrt(mean(x^2) + eps) * weight, per row of dim.  y may alias x.
void rms_norm(const float* x, const float* weight, float* y, int rows, int dim, float eps, cudaStream_t s);
// In place, each of count vectors of dim to unit length (eps under the root).
void l2_normalize(float* x, int count, int dim, float eps, cudaStream_t s);
// Rotary embedding, the CPU's pairing (i, i + head_dim/2), positions first_position + r.
void rope(float* x, int rows, int heads, int head_dim, int first_position, float theta, cudaStream_t s);
// out[r][i] = silu(gate) * up for rows of [gate (ffn) | up (ffn)].
void swiglu_rows(const float* gate_up, float* out, int rows, int ffn, cudaStream_t s);
// x += y over n floats.
void add(float* x, const float* y, long n, cudaStream_t s);
// out[r] = columns [from, from + width) of row r of a [rows][cols] matrix.
void split_columns(const float* all, int rows, int cols, int from, int width, float* out, cudaStream_t s);
// The linear layers' gates: alpha = sigmoid(alpha + 3), beta = sigmoid(beta), n each.
void gates(float* alpha, float* beta, long n, cudaStream_t s);

}  // namespace prfaas::kernels::cuda

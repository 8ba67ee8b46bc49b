#pragma once
// RMSNorm over the last dimension: y = x / sqrt(mean(x^2) + eps) * weight.  (Qwen3-Next's
// zero-centred norms pass 1 + w as the weight.)

namespace prfaas::kernels {

// x, y: [rows][dim] (may alias), weight: [dim].
void rms_norm(const float* x, const float* weight, float* y, int rows, int dim, float eps);

// Gated DeltaNet's output norm, per vector of `dim`: x <- weight * x / sqrt(mean(x^2) + eps) * silu(z).
// x: [rows][heads][dim] in place; z: row r's head h at z + r * z_stride + h * dim.
void gated_rms_norm(float* x, const float* z, long z_stride, const float* weight, int rows, int heads, int dim,
                    float eps);

// In-place L2 normalisation of `count` vectors of length `dim` (linear-attention q and k).
void l2_normalize(float* x, int count, int dim, float eps);

// The same over `count` vectors at a stride: vector i at x + (i / per_row) * stride + (i % per_row) * dim.
void l2_normalize_strided(float* x, int rows, int per_row, long stride, int dim, float eps);

}  // namespace prfaas::kernels

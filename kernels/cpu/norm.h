#pragma once
// RMSNorm over the last dimension: y = x / sqrt(mean(x^2) + eps) * weight.

namespace prfaas::kernels {

// x, y: [rows][dim] (may alias), weight: [dim].
void rms_norm(const float* x, const float* weight, float* y, int rows, int dim, float eps);

// In-place L2 normalisation of `count` vectors of length `dim` (linear-attention q and k).
void l2_normalize(float* x, int count, int dim, float eps);

}  // namespace prfaas::kernels

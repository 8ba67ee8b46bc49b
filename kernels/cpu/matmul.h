#pragma once
// Dense products, the bulk of the tiny model's work.
//
// Weights are stored row-major as [out][in] so every output element is one contiguous dot
// product; each output element is computed by exactly one thread in a fixed order, so results
// are bit-identical whatever the thread count (the project's greedy-output oracle relies on it).

namespace prfaas::kernels {

// Sum of a[i]*b[i] over n elements, with eight fixed partial sums (vectorisable, deterministic).
float dot(const float* a, const float* b, int n);

// y[r][o] = sum_i x[r][i] * w[o][i] for r < rows, o < out.  x: [rows][in], w: [out][in],
// y: [rows][out]; y must not alias x.  Parallel over rows (prefill) or outputs (one row).
void matmul(const float* x, const float* w, float* y, int rows, int in, int out);

}  // namespace prfaas::kernels

#pragma once
// The vector dot product the recurrent kernels (delta rule) are built from.

namespace prfaas::kernels {

// Sum of a[i]*b[i] over n elements, with eight fixed partial sums (vectorisable, deterministic).
float dot(const float* a, const float* b, int n);

}  // namespace prfaas::kernels

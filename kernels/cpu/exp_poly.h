#pragma once
// exp(x) by range reduction and a degree-6 polynomial (Cephes' coefficients; about 1 ulp),
// written so loops over it vectorise (no calls, no branches).  Exactly 0 below -87 (so a
// masked score of -inf contributes nothing to a softmax) and exactly 1 at 0.  Used wherever the
// engine takes many exponentials: the softmax, SwiGLU, the gates' sigmoid.

#include <bit>
#include <cstdint>

namespace prfaas::kernels {

inline float exp_poly(float x) {
  const float big = 12582912.0f;  // 1.5 * 2^23: adding it rounds to an integer
  const float xc = x < -87.0f ? -87.0f : (x > 88.0f ? 88.0f : x);
  const float n = (xc * 1.44269504088896341f + big) - big;
  const float r = (xc - n * 0.693359375f) - n * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  const float scale = std::bit_cast<float>((static_cast<int32_t>(n) + 127) << 23);
  return x < -87.0f ? 0.0f : p * scale;
}

}  // namespace prfaas::kernels

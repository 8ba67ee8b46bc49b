#include "kernels/cpu/matmul.h"

namespace prfaas::kernels {

// Compiled twice: AVX2+FMA where the CPU has it, plain x86-64 elsewhere; chosen at load time.
__attribute__((target_clones("arch=x86-64-v3", "default")))
float dot(const float* a, const float* b, int n) {
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int i = 0;
  for (; i + 8 <= n; i += 8)
    for (int l = 0; l < 8; ++l) acc[l] += a[i + l] * b[i + l];
  float tail = 0;
  for (; i < n; ++i) tail += a[i] * b[i];
  return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7])) + tail;
}

void matmul(const float* x, const float* w, float* y, int rows, int in, int out) {
  if (rows == 1) {
#pragma omp parallel for schedule(static) if (static_cast<long>(in) * out > 65536)
    for (int o = 0; o < out; ++o) y[o] = dot(x, w + static_cast<long>(o) * in, in);
    return;
  }
  // Tiles of 16 output rows keep a slice of w hot in cache while every x row passes over it.
  constexpr int kTile = 16;
#pragma omp parallel for schedule(static) collapse(2)
  for (int r0 = 0; r0 < rows; r0 += 8)
    for (int o0 = 0; o0 < out; o0 += kTile)
      for (int r = r0; r < r0 + 8 && r < rows; ++r)
        for (int o = o0; o < o0 + kTile && o < out; ++o)
          y[static_cast<long>(r) * out + o] =
              dot(x + static_cast<long>(r) * in, w + static_cast<long>(o) * in, in);
}

}  // namespace prfaas::kernels

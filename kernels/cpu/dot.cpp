#include "kernels/cpu/dot.h"

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

}  // namespace prfaas::kernels

#include "kernels/cpu/activation.h"

#include <cmath>

namespace prfaas::kernels {

void swiglu(const float* gate, const float* up, float* out, long n) {
#pragma omp parallel for schedule(static) if (n > 65536)
  for (long i = 0; i < n; ++i) out[i] = gate[i] / (1.0f + std::exp(-gate[i])) * up[i];
}

void sigmoid(float* x, long n) {
  for (long i = 0; i < n; ++i) x[i] = 1.0f / (1.0f + std::exp(-x[i]));
}

int argmax(const float* x, int n) {
  int best = 0;
  for (int i = 1; i < n; ++i)
    if (x[i] > x[best]) best = i;
  return best;
}

}  // namespace prfaas::kernels

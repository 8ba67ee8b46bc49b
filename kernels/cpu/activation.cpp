#include "kernels/cpu/activation.h"

#include "kernels/cpu/exp_poly.h"

namespace prfaas::kernels {

// Element-wise with a vectorisable exponential: AVX-512 or AVX2 where the CPU has them.
__attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
void swiglu(const float* gate, const float* up, float* out, long n) {
  for (long i = 0; i < n; ++i) out[i] = gate[i] / (1.0f + exp_poly(-gate[i])) * up[i];
}

__attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
void sigmoid(float* x, long n) {
  for (long i = 0; i < n; ++i) x[i] = 1.0f / (1.0f + exp_poly(-x[i]));
}

int argmax(const float* x, int n) {
  int best = 0;
  for (int i = 1; i < n; ++i)
    if (x[i] > x[best]) best = i;
  return best;
}

}  // namespace prfaas::kernels

#include "kernels/cpu/delta_rule.h"

#include "kernels/cpu/matmul.h"

namespace prfaas::kernels {

void gated_delta_rule(float* state, const float* q, const float* k, const float* v,
                      const float* alpha, const float* beta, int rows, int heads, int key_dim,
                      int value_dim, float* out) {
  // Heads are independent; tokens within a head are strictly sequential.
#pragma omp parallel for schedule(static) if (rows > 1)
  for (int h = 0; h < heads; ++h) {
    float* s = state + static_cast<long>(h) * value_dim * key_dim;
    for (int r = 0; r < rows; ++r) {
      const long qk = (static_cast<long>(r) * heads + h) * key_dim;
      const long vo = (static_cast<long>(r) * heads + h) * value_dim;
      const float a = alpha[r * heads + h];
      const float b = beta[r * heads + h];
      for (int i = 0; i < value_dim; ++i) {
        float* row = s + static_cast<long>(i) * key_dim;
        for (int j = 0; j < key_dim; ++j) row[j] *= a;
        const float delta = b * (v[vo + i] - dot(row, k + qk, key_dim));
        for (int j = 0; j < key_dim; ++j) row[j] += delta * k[qk + j];
        out[vo + i] = dot(row, q + qk, key_dim);
      }
    }
  }
}

}  // namespace prfaas::kernels

#include "kernels/cpu/delta_rule.h"

namespace prfaas::kernels {

namespace {

constexpr int kMaxValueDim = 1024;

// One head, one token.  The loops over i (value lanes) are independent: g++ vectorises them.
__attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
void step(float* __restrict st, const float* __restrict q, const float* __restrict k, const float* __restrict v,
          float a, float b, int key_dim, int value_dim, float* __restrict o) {
  float u[kMaxValueDim];  // S k, then the update's delta
  for (int i = 0; i < value_dim; ++i) u[i] = 0;
  for (int j = 0; j < key_dim; ++j) {
    const float kj = k[j];
    const float* row = st + static_cast<long>(j) * value_dim;
    for (int i = 0; i < value_dim; ++i) u[i] += row[i] * kj;
  }
  for (int i = 0; i < value_dim; ++i) u[i] = b * (v[i] - a * u[i]);
  for (int i = 0; i < value_dim; ++i) o[i] = 0;
  for (int j = 0; j < key_dim; ++j) {
    const float kj = k[j], qj = q[j];
    float* row = st + static_cast<long>(j) * value_dim;
    for (int i = 0; i < value_dim; ++i) {
      row[i] = a * row[i] + u[i] * kj;
      o[i] += row[i] * qj;
    }
  }
}

}  // namespace

void gated_delta_rule(float* state, const float* q, const float* k, long qk_stride, int key_heads,
                      const float* v, long v_stride, const float* alpha, const float* beta, int rows,
                      int heads, int key_dim, int value_dim, float* out) {
  const int group = heads / key_heads;
  // Heads are independent; tokens within a head are strictly sequential.
#pragma omp parallel for schedule(static) if (rows > 1)
  for (int h = 0; h < heads; ++h) {
    float* s = state + static_cast<long>(h) * key_dim * value_dim;
    for (int r = 0; r < rows; ++r) {
      const long qk = r * qk_stride + static_cast<long>(h / group) * key_dim;
      const long vi = r * v_stride + static_cast<long>(h) * value_dim;
      const long vo = (static_cast<long>(r) * heads + h) * value_dim;
      step(s, q + qk, k + qk, v + vi, alpha[r * heads + h], beta[r * heads + h], key_dim, value_dim, out + vo);
    }
  }
}

}  // namespace prfaas::kernels

#include "kernels/cuda/delta_rule.h"

namespace prfaas::kernels::cuda {

namespace {

__global__ void delta_kernel(float* state, const float* q, const float* k, const float* v, const float* alpha,
                             const float* beta, int rows, int heads, int key_dim, int value_dim, float* out) {
  __shared__ float ks[1024], qs[1024];
  const int h = blockIdx.x, i = threadIdx.x;
  float* st = state + static_cast<long>(h) * key_dim * value_dim;
  for (int r = 0; r < rows; ++r) {
    const long qk = (static_cast<long>(r) * heads + h) * key_dim;
    for (int j = i; j < key_dim; j += blockDim.x) ks[j] = k[qk + j], qs[j] = q[qk + j];
    __syncthreads();
    if (i < value_dim) {
      const float a = alpha[r * heads + h], b = beta[r * heads + h];
      float u = 0;
      for (int j = 0; j < key_dim; ++j) u += st[static_cast<long>(j) * value_dim + i] * ks[j];
      const float delta = b * (v[(static_cast<long>(r) * heads + h) * value_dim + i] - a * u);
      float o = 0;
      for (int j = 0; j < key_dim; ++j) {
        float& cell = st[static_cast<long>(j) * value_dim + i];
        cell = a * cell + delta * ks[j];
        o += cell * qs[j];
      }
      out[(static_cast<long>(r) * heads + h) * value_dim + i] = o;
    }
    __syncthreads();  // the next token overwrites ks and qs
  }
}

}  // namespace

void gated_delta_rule(float* state, const float* q, const float* k, const float* v, const float* alpha,
                      const float* beta, int rows, int heads, int key_dim, int value_dim, float* out, cudaStream_t s) {
  const int threads = ((value_dim + 31) / 32) * 32;
  delta_kernel<<<heads, threads, 0, s>>>(state, q, k, v, alpha, beta, rows, heads, key_dim, value_dim, out);
}

}  // namespace prfaas::kernels::cuda

#include "kernels/cuda/ops.h"

namespace prfaas::kernels::cuda {

namespace {

constexpr int kThreads = 256;
inline int blocks_for(long n) { return static_cast<int>((n + kThreads - 1) / kThreads); }

__global__ void embed_kernel(const int32_t* tokens, int rows, const float* table, int d, float* x) {
  const long i = blockIdx.x * static_cast<long>(blockDim.x) + threadIdx.x;
  if (i >= static_cast<long>(rows) * d) return;
  const long r = i / d, c = i % d;
  x[i] = table[static_cast<long>(tokens[r]) * d + c];
}

// One block per row: a shared-memory tree sum of squares, then the scaled row.
__global__ void rms_norm_kernel(const float* x, const float* w, float* y, int dim, float eps, bool mean) {
  __shared__ float partial[kThreads];
  const float* xr = x + static_cast<long>(blockIdx.x) * dim;
  float* yr = y + static_cast<long>(blockIdx.x) * dim;
  float sum = 0;
  for (int i = threadIdx.x; i < dim; i += blockDim.x) sum += xr[i] * xr[i];
  partial[threadIdx.x] = sum;
  __syncthreads();
  for (int step = blockDim.x / 2; step > 0; step /= 2) {
    if (threadIdx.x < step) partial[threadIdx.x] += partial[threadIdx.x + step];
    __syncthreads();
  }
  const float scale = rsqrtf((mean ? partial[0] / dim : partial[0]) + eps);
  for (int i = threadIdx.x; i < dim; i += blockDim.x) yr[i] = xr[i] * scale * (w ? w[i] : 1.0f);
}

__global__ void rope_kernel(float* x, int rows, int heads, int head_dim, int first_position, float theta) {
  const int half = head_dim / 2;
  const long i = blockIdx.x * static_cast<long>(blockDim.x) + threadIdx.x;
  if (i >= static_cast<long>(rows) * heads * half) return;
  const int pair = static_cast<int>(i % half);
  const long rh = i / half;
  const int r = static_cast<int>(rh / heads);
  const double angle = static_cast<double>(first_position + r) * pow(static_cast<double>(theta), -2.0 * pair / head_dim);
  const float c = static_cast<float>(cos(angle)), s = static_cast<float>(sin(angle));
  float* v = x + rh * head_dim;
  const float a = v[pair], b = v[pair + half];
  v[pair] = a * c - b * s;
  v[pair + half] = a * s + b * c;
}

__global__ void swiglu_kernel(const float* gate_up, float* out, int rows, int ffn) {
  const long i = blockIdx.x * static_cast<long>(blockDim.x) + threadIdx.x;
  if (i >= static_cast<long>(rows) * ffn) return;
  const long r = i / ffn, c = i % ffn;
  const float g = gate_up[r * 2 * ffn + c], u = gate_up[r * 2 * ffn + ffn + c];
  out[i] = g / (1.0f + expf(-g)) * u;
}

__global__ void add_kernel(float* x, const float* y, long n) {
  const long i = blockIdx.x * static_cast<long>(blockDim.x) + threadIdx.x;
  if (i < n) x[i] += y[i];
}

__global__ void split_kernel(const float* all, int rows, int cols, int from, int width, float* out) {
  const long i = blockIdx.x * static_cast<long>(blockDim.x) + threadIdx.x;
  if (i >= static_cast<long>(rows) * width) return;
  const long r = i / width, c = i % width;
  out[i] = all[r * cols + from + c];
}

__global__ void gates_kernel(float* alpha, float* beta, long n) {
  const long i = blockIdx.x * static_cast<long>(blockDim.x) + threadIdx.x;
  if (i >= n) return;
  alpha[i] = 1.0f / (1.0f + expf(-(alpha[i] + 3.0f)));
  beta[i] = 1.0f / (1.0f + expf(-beta[i]));
}

}  // namespace

void embed(const int32_t* tokens, int rows, const float* table, int d, float* x, cudaStream_t s) {
  embed_kernel<<<blocks_for(static_cast<long>(rows) * d), kThreads, 0, s>>>(tokens, rows, table, d, x);
}
void rms_norm(const float* x, const float* weight, float* y, int rows, int dim, float eps, cudaStream_t s) {
  rms_norm_kernel<<<rows, kThreads, 0, s>>>(x, weight, y, dim, eps, true);
}
void l2_normalize(float* x, int count, int dim, float eps, cudaStream_t s) {
  rms_norm_kernel<<<count, kThreads, 0, s>>>(x, nullptr, x, dim, eps, false);
}
void rope(float* x, int rows, int heads, int head_dim, int first_position, float theta, cudaStream_t s) {
  rope_kernel<<<blocks_for(static_cast<long>(rows) * heads * (head_dim / 2)), kThreads, 0, s>>>(x, rows, heads, head_dim,
                                                                                               first_position, theta);
}
void swiglu_rows(const float* gate_up, float* out, int rows, int ffn, cudaStream_t s) {
  swiglu_kernel<<<blocks_for(static_cast<long>(rows) * ffn), kThreads, 0, s>>>(gate_up, out, rows, ffn);
}
void add(float* x, const float* y, long n, cudaStream_t s) { add_kernel<<<blocks_for(n), kThreads, 0, s>>>(x, y, n); }
void split_columns(const float* all, int rows, int cols, int from, int width, float* out, cudaStream_t s) {
  split_kernel<<<blocks_for(static_cast<long>(rows) * width), kThreads, 0, s>>>(all, rows, cols, from, width, out);
}
void gates(float* alpha, float* beta, long n, cudaStream_t s) { gates_kernel<<<blocks_for(n), kThreads, 0, s>>>(alpha, beta, n); }

}  // namespace prfaas::kernels::cuda

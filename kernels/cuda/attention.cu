#include "kernels/cuda/attention.h"

namespace prfaas::kernels::cuda {

namespace {

constexpr int kThreads = 256;

__device__ float block_reduce(float v, float* shared, bool take_max) {
  shared[threadIdx.x] = v;
  __syncthreads();
  for (int step = blockDim.x / 2; step > 0; step /= 2) {
    if (threadIdx.x < step)
      shared[threadIdx.x] = take_max ? fmaxf(shared[threadIdx.x], shared[threadIdx.x + step])
                                     : shared[threadIdx.x] + shared[threadIdx.x + step];
    __syncthreads();
  }
  const float result = shared[0];
  __syncthreads();
  return result;
}

__global__ void attend_kernel(const float* q, int heads, const float* const* blocks, int bt, int kv_heads, int dim,
                              int first_position, float* out) {
  __shared__ float qs[256], scores[256], reduce[kThreads];
  const int row = blockIdx.x / heads, h = blockIdx.x % heads;
  const int g = h / (heads / kv_heads), position = first_position + row;
  const float scale = rsqrtf(static_cast<float>(dim));
  const float* qh = q + (static_cast<long>(row) * heads + h) * dim;
  for (int d = threadIdx.x; d < dim; d += blockDim.x) qs[d] = qh[d] * scale;
  __syncthreads();
  const long kv_stride = static_cast<long>(kv_heads) * dim;
  float running_max = -INFINITY, running_sum = 0, acc = 0;  // acc: output dimension threadIdx.x
  for (int b = 0; b * bt <= position; ++b) {
    const float* block = blocks[b];
    const int n = min(bt, position + 1 - b * bt);
    const float* kt = block + static_cast<long>(g) * dim * bt;
    float local_max = -INFINITY;
    for (int j = threadIdx.x; j < n; j += blockDim.x) {
      float s = 0;
      for (int d = 0; d < dim; ++d) s += qs[d] * kt[static_cast<long>(d) * bt + j];
      scores[j] = s;
      local_max = fmaxf(local_max, s);
    }
    const float new_max = fmaxf(running_max, block_reduce(local_max, reduce, true));
    float local_sum = 0;
    for (int j = threadIdx.x; j < n; j += blockDim.x) {
      scores[j] = expf(scores[j] - new_max);
      local_sum += scores[j];
    }
    const float block_sum = block_reduce(local_sum, reduce, false);  // also orders the scores' writes
    const float rescale = expf(running_max - new_max);
    running_sum = running_sum * rescale + block_sum;
    running_max = new_max;
    if (threadIdx.x < dim) {
      const float* v = block + static_cast<long>(bt) * kv_stride + static_cast<long>(g) * dim + threadIdx.x;
      float part = 0;
      for (int j = 0; j < n; ++j) part += scores[j] * v[j * kv_stride];
      acc = acc * rescale + part;
    }
    __syncthreads();  // the next block overwrites scores
  }
  if (threadIdx.x < dim) out[(static_cast<long>(row) * heads + h) * dim + threadIdx.x] = acc / running_sum;
}

__global__ void store_kernel(float* const* table, int first, int rows, const float* k, const float* v, int bt,
                             int per_token) {
  const long i = blockIdx.x * static_cast<long>(blockDim.x) + threadIdx.x;
  if (i >= static_cast<long>(rows) * per_token) return;
  const int r = static_cast<int>(i / per_token), e = static_cast<int>(i % per_token);
  const int position = first + r, slot = position % bt;
  float* block = table[position / bt];
  block[static_cast<long>(e) * bt + slot] = k[i];                                // K transposed
  block[static_cast<long>(bt) * per_token + static_cast<long>(slot) * per_token + e] = v[i];  // V by token
}

}  // namespace

void store_kv(float* const* table, int first, int rows, const float* k, const float* v, int block_tokens, int kv_heads,
              int head_dim, cudaStream_t s) {
  const long n = static_cast<long>(rows) * kv_heads * head_dim;
  store_kernel<<<static_cast<int>((n + kThreads - 1) / kThreads), kThreads, 0, s>>>(table, first, rows, k, v, block_tokens,
                                                                                    kv_heads * head_dim);
}

void attend_paged(const float* q, int rows, int heads, const float* const* blocks, int block_tokens, int kv_heads,
                  int head_dim, int first_position, float* out, cudaStream_t s) {
  attend_kernel<<<rows * heads, kThreads, 0, s>>>(q, heads, blocks, block_tokens, kv_heads, head_dim, first_position, out);
}

}  // namespace prfaas::kernels::cuda

#include "kernels/cpu/attention.h"

#include <cmath>
#include <vector>

#include "kernels/cpu/matmul.h"

namespace prfaas::kernels {

void attend(const float* q, int heads, const kv_block_view& kv, int context, float* out,
            float* scratch) {
  const int group = heads / kv.kv_heads;
  const long v_offset = static_cast<long>(kv.block_tokens) * kv.kv_heads * kv.head_dim;
  const float scale = 1.0f / std::sqrt(static_cast<float>(kv.head_dim));
  for (int h = 0; h < heads; ++h) {
    const int g = h / group;
    const float* qh = q + static_cast<long>(h) * kv.head_dim;
    float max_score = -INFINITY;
    for (int t = 0; t < context; ++t) {
      const float* block = kv.blocks[t / kv.block_tokens];
      const float* k = block + (static_cast<long>(t % kv.block_tokens) * kv.kv_heads + g) * kv.head_dim;
      scratch[t] = dot(qh, k, kv.head_dim) * scale;
      if (scratch[t] > max_score) max_score = scratch[t];
    }
    float sum = 0;
    for (int t = 0; t < context; ++t) {
      scratch[t] = std::exp(scratch[t] - max_score);
      sum += scratch[t];
    }
    float* oh = out + static_cast<long>(h) * kv.head_dim;
    for (int i = 0; i < kv.head_dim; ++i) oh[i] = 0;
    for (int t = 0; t < context; ++t) {
      const float* block = kv.blocks[t / kv.block_tokens];
      const float* v =
          block + v_offset + (static_cast<long>(t % kv.block_tokens) * kv.kv_heads + g) * kv.head_dim;
      const float w = scratch[t] / sum;
      for (int i = 0; i < kv.head_dim; ++i) oh[i] += w * v[i];
    }
  }
}

void attend_causal(const float* q, int rows, int heads, const kv_block_view& kv,
                   int first_position, float* out) {
  const long stride = static_cast<long>(heads) * kv.head_dim;
#pragma omp parallel
  {
    std::vector<float> scratch(static_cast<size_t>(first_position + rows));
    // Later rows see more context: dynamic chunks keep both threads busy to the end.
#pragma omp for schedule(dynamic, 16)
    for (int r = 0; r < rows; ++r)
      attend(q + r * stride, heads, kv, first_position + r + 1, out + r * stride, scratch.data());
  }
}

}  // namespace prfaas::kernels

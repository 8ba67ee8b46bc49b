#include "kernels/cpu/conv.h"

#include <cmath>
#include <cstring>

namespace prfaas::kernels {

void causal_conv_silu(float* x, long stride, int rows, int channels, const float* w, int kernel, float* state,
                      float* scratch) {
  const int hist = kernel - 1;
  const size_t row_bytes = static_cast<size_t>(channels) * sizeof(float);
  // The inputs in time order: the carried history, then this call's rows.
  if (hist > 0) std::memcpy(scratch, state, hist * row_bytes);
  for (int r = 0; r < rows; ++r) std::memcpy(scratch + static_cast<long>(hist + r) * channels, x + r * stride, row_bytes);
#pragma omp parallel for schedule(static) if (rows > 16)
  for (int r = 0; r < rows; ++r) {
    float* out = x + r * stride;
    for (int c = 0; c < channels; ++c) out[c] = 0;
    for (int j = 0; j < kernel; ++j) {
      const float* in = scratch + static_cast<long>(r + j) * channels;
      const float* wj = w + static_cast<long>(j) * channels;
      for (int c = 0; c < channels; ++c) out[c] += wj[c] * in[c];
    }
    for (int c = 0; c < channels; ++c) out[c] = out[c] / (1.0f + std::exp(-out[c]));
  }
  if (hist > 0) std::memcpy(state, scratch + static_cast<long>(rows) * channels, hist * row_bytes);
}

}  // namespace prfaas::kernels

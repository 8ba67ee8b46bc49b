#include "kernels/cpu/norm.h"

#include <cmath>

#include "kernels/cpu/dot.h"

namespace prfaas::kernels {

void rms_norm(const float* x, const float* weight, float* y, int rows, int dim, float eps) {
#pragma omp parallel for schedule(static) if (rows > 64)
  for (int r = 0; r < rows; ++r) {
    const float* xr = x + static_cast<long>(r) * dim;
    float* yr = y + static_cast<long>(r) * dim;
    const float scale = 1.0f / std::sqrt(dot(xr, xr, dim) / static_cast<float>(dim) + eps);
    for (int i = 0; i < dim; ++i) yr[i] = xr[i] * scale * weight[i];
  }
}

void l2_normalize(float* x, int count, int dim, float eps) {
  for (int c = 0; c < count; ++c) {
    float* v = x + static_cast<long>(c) * dim;
    const float scale = 1.0f / std::sqrt(dot(v, v, dim) + eps);
    for (int i = 0; i < dim; ++i) v[i] *= scale;
  }
}

void gated_rms_norm(float* x, const float* z, long z_stride, const float* weight, int rows, int heads, int dim,
                    float eps) {
#pragma omp parallel for schedule(static) if (rows > 16)
  for (int r = 0; r < rows; ++r)
    for (int h = 0; h < heads; ++h) {
      float* v = x + (static_cast<long>(r) * heads + h) * dim;
      const float* g = z + r * z_stride + static_cast<long>(h) * dim;
      const float scale = 1.0f / std::sqrt(dot(v, v, dim) / static_cast<float>(dim) + eps);
      for (int i = 0; i < dim; ++i) v[i] = weight[i] * (v[i] * scale) * (g[i] / (1.0f + std::exp(-g[i])));
    }
}

void l2_normalize_strided(float* x, int rows, int per_row, long stride, int dim, float eps) {
#pragma omp parallel for schedule(static) if (rows > 16)
  for (int r = 0; r < rows; ++r) l2_normalize(x + r * stride, per_row, dim, eps);
}

}  // namespace prfaas::kernels

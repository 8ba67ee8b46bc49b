#include "kernels/cpu/rope.h"

#include <cmath>

namespace prfaas::kernels {

void rope(float* x, int rows, int heads, int head_dim, int rotary_dim, int first_position, float theta) {
  const int half = rotary_dim / 2;
#pragma omp parallel for schedule(static) if (rows > 64)
  for (int r = 0; r < rows; ++r) {
    const double pos = first_position + r;
    for (int i = 0; i < half; ++i) {
      const double angle = pos * std::pow(static_cast<double>(theta), -2.0 * i / rotary_dim);
      const float c = static_cast<float>(std::cos(angle));
      const float s = static_cast<float>(std::sin(angle));
      for (int h = 0; h < heads; ++h) {
        float* v = x + (static_cast<long>(r) * heads + h) * head_dim;
        const float a = v[i], b = v[i + half];
        v[i] = a * c - b * s;
        v[i + half] = a * s + b * c;
      }
    }
  }
}

}  // namespace prfaas::kernels

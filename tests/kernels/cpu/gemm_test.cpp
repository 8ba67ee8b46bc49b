// Specification of the engine's matrix multiply: right, and a row's bits independent of the
// rows beside it (what the model's byte-for-byte path checks stand on).

#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "kernels/cpu/gemm.h"
#include "tests/support/random_floats.h"

using prfaas::kernels::gemm;
using prfaas::testing::random_floats;

TEST_CASE("gemm: y = x times w transposed, w stored [out][in]") {
  const int rows = 37, in = 96, out = 40;
  const auto x = random_floats(rows * in, 1), w = random_floats(out * in, 2);
  std::vector<float> y(rows * out);
  gemm g;
  g.multiply(x.data(), g.pack(w.data(), in, out), y.data(), rows);
  for (int r = 0; r < rows; ++r)
    for (int o = 0; o < out; ++o) {
      double want = 0;
      for (int i = 0; i < in; ++i) want += double(x[r * in + i]) * w[o * in + i];
      INFO("row " << r << " output " << o);
      CHECK(y[r * out + o] == Approx(want).margin(1e-3));
    }
}

TEST_CASE("gemm: every row has the bits of the same row multiplied alone, for any row count") {
  const int in = GENERATE(64, 256, 512), out = GENERATE(4, 256, 512);
  const int most = 600;  // past the 256-row pieces, so every piece size meets every row
  const auto x = random_floats(static_cast<size_t>(most) * in, 3), w = random_floats(static_cast<size_t>(out) * in, 4);
  gemm g;
  const auto packed = g.pack(w.data(), in, out);
  std::vector<float> alone(static_cast<size_t>(most) * out);
  for (int r = 0; r < most; ++r) g.multiply(&x[static_cast<size_t>(r) * in], packed, &alone[static_cast<size_t>(r) * out], 1);
  for (const int rows : {2, 3, 16, 17, 100, 255, 256, 257, 600}) {
    // Start at another row too: a row's place in the call must not matter either.
    for (const int first : {0, 5}) {
      if (first + rows > most) continue;
      std::vector<float> y(static_cast<size_t>(rows) * out);
      g.multiply(&x[static_cast<size_t>(first) * in], packed, y.data(), rows);
      INFO(rows << " rows from row " << first << ", in " << in << ", out " << out);
      CHECK(std::memcmp(y.data(), &alone[static_cast<size_t>(first) * out], y.size() * sizeof(float)) == 0);
    }
  }
  CHECK(g.primitives() <= 9);  // one shape per piece size: the cache stays bounded
}

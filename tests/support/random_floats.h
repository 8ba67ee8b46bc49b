#pragma once
// Seeded standard-normal test data for kernel tests.

#include <cstdint>
#include <random>
#include <vector>

namespace prfaas::testing {

inline std::vector<float> random_floats(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal;
  std::vector<float> v(n);
  for (auto& x : v) x = normal(rng);
  return v;
}

}  // namespace prfaas::testing

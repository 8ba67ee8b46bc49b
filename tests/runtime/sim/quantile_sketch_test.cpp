// Quantiles of a stream in fixed memory, against the exact ones of the same values.

#include <catch2/catch.hpp>

#include <algorithm>
#include <random>

#include "runtime/sim/quantile_sketch.h"

using namespace prfaas;

TEST_CASE("a sketch's quantiles are within 0.05 % of the exact ones, whatever the order of the values") {
  std::mt19937_64 rng(4);
  std::lognormal_distribution<double> ttft(0.0, 1.5);  // seconds: from milliseconds to minutes
  std::vector<double> values(200000);
  for (auto& v : values) v = ttft(rng);
  sim::quantile_sketch forward, backward;
  for (double v : values) forward.add(v);
  for (auto it = values.rbegin(); it != values.rend(); ++it) backward.add(*it);
  CHECK(forward.count() == values.size());
  std::sort(values.begin(), values.end());
  for (double q : {0.0, 0.01, 0.5, 0.9, 0.99, 0.999, 1.0}) {
    INFO("q " << q);
    const double exact = values[std::min(values.size() - 1, static_cast<size_t>(q * values.size()))];
    CHECK(forward.quantile(q) == Approx(exact).epsilon(0.0005));
    CHECK(backward.quantile(q) == forward.quantile(q));
  }
}

TEST_CASE("an empty sketch answers 0, and values outside its range count at its ends") {
  sim::quantile_sketch s;
  CHECK(s.quantile(0.5) == 0);
  s.add(0);       // below a microsecond
  s.add(-3);      // nonsense, but counted
  s.add(1e9);     // beyond twelve days
  CHECK(s.count() == 3);
  CHECK(s.quantile(0) < 1.001e-6);
  CHECK(s.quantile(1) > 1e6);
}

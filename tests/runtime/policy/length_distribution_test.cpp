// Length distributions: the conditional means and tail probabilities the model is built on.

#include <catch2/catch.hpp>

#include <cmath>

#include "runtime/policy/length_distribution.h"

using namespace prfaas::policy;

TEST_CASE("an empirical distribution splits at the threshold into its two conditional means") {
  const auto d = length_distribution::empirical({100, 200, 300, 1000});
  CHECK(d.prob_above(250) == Approx(0.5));
  CHECK(d.mean_above(250) == Approx(650));
  CHECK(d.mean_at_or_below(250) == Approx(150));
  CHECK(d.prob_above(300) == Approx(0.25));    // "longer than t" is strict
  CHECK(d.prob_above(99) == Approx(1.0));
  CHECK(d.mean_at_or_below(99) == 0);
  CHECK(d.mean() == Approx(400));
}

TEST_CASE("the truncated log-normal stays in its bounds and has the expected median") {
  const auto d = length_distribution::truncated_lognormal(9.0, 0.5, 1000, 100000);
  CHECK(d.min() >= 1000);
  CHECK(d.max() <= 100000);
  CHECK(d.quantile(0.5) == Approx(std::exp(9.0)).epsilon(0.01));
  CHECK(d.prob_above(std::exp(9.0)) == Approx(0.5).epsilon(0.01));
}

TEST_CASE("the threshold grid brackets the support: offload everything, nothing, and between") {
  const auto d = length_distribution::empirical({10, 20, 30});
  const auto g = d.threshold_grid(100);
  CHECK(g == std::vector<double>{9, 10, 20, 30});
  CHECK(d.prob_above(g.front()) == 1.0);
  CHECK(d.prob_above(g.back()) == 0.0);
  CHECK(length_distribution::truncated_lognormal(9.9, 1, 128, 131072).threshold_grid(50).size() <= 52);
}

// The throughput model and its grid search (PAPER.md §4-§5).

#include <catch2/catch.hpp>

#include "runtime/policy/planner.h"

using namespace prfaas;
using namespace prfaas::policy;

namespace {
const profile::instance_profile& h200() {
  static const auto p = profile::load_profile(PRFAAS_SOURCE_DIR "/profiles/h200-1t-hybrid.toml");
  return p;
}
const profile::instance_profile& h20() {
  static const auto p = profile::load_profile(PRFAAS_SOURCE_DIR "/profiles/h20-1t-hybrid.toml");
  return p;
}
const length_distribution& case_study() {
  static const auto d = length_distribution::truncated_lognormal(9.90, 1.00, 128, 131072);
  return d;
}
}  // namespace

TEST_CASE("as t falls, Θ_prfaas/p falls and Θ_pd-p/(1-p) rises") {
  const deployment_shape shape{4, 3, 5, 100, 1024};
  double last_prfaas = 1e300, last_pd = 0;
  int steps = 0;
  for (double t = 120000; t >= 2000; t -= 2000) {
    const auto r = evaluate(h200(), h20(), shape, case_study(), t);
    const double by_prfaas = r.theta_prfaas / r.p, by_pd = r.theta_pd_p / (1 - r.p);
    CHECK(by_prfaas <= last_prfaas);
    CHECK(by_pd >= last_pd);
    last_prfaas = by_prfaas;
    last_pd = by_pd;
    ++steps;
  }
  CHECK(steps == 60);
}

TEST_CASE("the case-study model reproduces the source's optimum and its gains over both baselines") {
  const plan_input in{&h200(), &h20(), 4, 8, 100, 1024, &case_study(), 512};
  const auto best = plan(in);
  const auto homogeneous = plan_homogeneous(in, 12);
  const auto naive = plan_naive(in);
  CHECK(case_study().mean() == Approx(27000).epsilon(0.03));  // "mean about 27K"
  CHECK(best.threshold == Approx(19400).epsilon(0.05));       // the source reports t = 19.4K
  CHECK(best.lambda_max / homogeneous.lambda_max == Approx(1.54).epsilon(0.03));  // "+54 %"
  CHECK(best.lambda_max / naive.lambda_max == Approx(1.32).epsilon(0.04));        // "+32 %"
  CHECK(best.link_utilisation < 0.2);  // "a small fraction of its capacity"
  CHECK(naive.p == 1.0);
  CHECK(homogeneous.p == 0.0);
}

TEST_CASE("the grid search finds the brute-force optimum on small cases") {
  // Small empirical workloads; brute force tries every integer t and every split.
  const std::vector<std::vector<double>> workloads = {
      {500, 1200, 3000, 8000, 8000, 20000, 64000},
      {128, 256, 100000, 120000},
      {4000, 4100, 4200, 30000, 31000, 90000, 130000, 131000}};
  for (const auto& samples : workloads)
    for (double link : {1.0, 10.0, 100.0})
      for (int n_prfaas : {0, 1, 3}) {
        const auto d = length_distribution::empirical(samples);
        const plan_input in{&h200(), &h20(), n_prfaas, 5, link, 512, &d, 1000};
        const auto grid = plan(in);
        double brute = 0;
        for (int n_p = 0; n_p <= 5; ++n_p)
          for (double t = 0; t <= 131100; t += 1) {
            if (n_prfaas == 0 && d.prob_above(t) > 0) continue;
            brute = std::max(brute, evaluate(h200(), h20(), {n_prfaas, n_p, 5 - n_p, link, 512}, d, t).lambda_max);
            if (t > 1000) t += 99;  // every value matters only near the samples; stride keeps it fast
          }
        INFO("link " << link << " Gbps, " << n_prfaas << " PrfaaS instances");
        CHECK(grid.lambda_max == Approx(brute).epsilon(1e-9));
      }
}

TEST_CASE("less bandwidth moves the optimum threshold up: fewer, longer requests cross") {
  double last_t = 0, last_p = 1;
  for (double link : {100.0, 20.0, 5.0, 2.0}) {
    const plan_input in{&h200(), &h20(), 4, 8, link, 1024, &case_study(), 512};
    const auto r = best_threshold(in, 3);
    CHECK(r.threshold >= last_t);
    CHECK(r.p <= last_p);
    last_t = r.threshold;
    last_p = r.p;
  }
  CHECK(last_t > 30000);
}

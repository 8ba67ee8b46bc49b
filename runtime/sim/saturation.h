#pragma once
// The simulator's saturation throughput: the highest Poisson arrival rate the simulated
// deployment sustains, found by bisection.  A rate is sustained when, within the arrival window,
// every stage (PrfaaS prefill and transfer, local prefill, decode) lets out all but a small
// fraction (`max_deficit`) of what entered it, and no request is refused.  This is the
// quantity the analytic Λ_max predicts.

#include <functional>
#include <utility>

#include "runtime/sim/simulator.h"

namespace prfaas::sim {

// The rate searches, whatever runs a rate (the simulator, or `prfaas bench cluster`'s live
// deployment) and whatever its test.  `keeps_up(rate)` runs one offered rate.
using rate_test = std::function<bool(double rate)>;

// `iterations` bisection steps of the bracket [lo, hi] (lo kept up, hi did not): the narrowed one.
std::pair<double, double> narrow(double lo, double hi, int iterations, const rate_test& keeps_up);

// A rate nothing brackets in advance, found by measurement: from a quarter of `start` (a
// planner's figure: only where to begin) the rate doubles until one falls behind (at most 16x
// `start`), or halves while the first does (at most three times); then `iterations` bisection
// steps between the highest rate that kept up and the lowest that did not.
struct probe_result {
  double sustained = 0;  // the highest rate that kept up (0: none did)
  double ceiling = 0;    // the lowest that fell behind (0: none did, up to the probe's top)
};
probe_result probe_rate(double start, int iterations, const rate_test& keeps_up);

struct saturation_options {
  double lo_rps = 0, hi_rps = 0;  // bracket: lo sustained, hi not
  int iterations = 10;
  int requests = 40000;
  uint64_t seed = 1;
  double max_deficit = 0.02;
};

bool sustained(const sim_report& r, double max_deficit);
double saturation_rate(const scenario& s, const sim_options& options, const saturation_options& sat);

}  // namespace prfaas::sim

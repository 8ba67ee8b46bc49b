#pragma once
// The simulator's saturation throughput: the highest Poisson arrival rate the simulated
// deployment sustains, found by bisection.  A rate is sustained when, within the arrival window,
// every stage (PrfaaS prefill and transfer, local prefill, decode) lets out all but a small
// fraction (`max_deficit`) of what entered it, and no request is refused.  This is the
// quantity the analytic Λ_max predicts.

#include "runtime/sim/simulator.h"

namespace prfaas::sim {

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

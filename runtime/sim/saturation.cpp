#include "runtime/sim/saturation.h"

#include <algorithm>

#include "runtime/sim/workload.h"

namespace prfaas::sim {

bool sustained(const sim_report& r, double max_deficit) {
  if (r.rejected > 0) return false;
  for (const auto* f : {&r.flow_prfaas, &r.flow_pd_prefill, &r.flow_decode})
    if (f->entered > 0 && 1.0 - static_cast<double>(f->left) / f->entered > max_deficit) return false;
  return true;
}

double saturation_rate(const scenario& s, const sim_options& options, const saturation_options& sat) {
  double lo = sat.lo_rps, hi = sat.hi_rps;
  for (int i = 0; i < sat.iterations; ++i) {
    const double mid = 0.5 * (lo + hi);
    const auto w = generate(s, sat.requests, mid, sat.seed);
    if (sustained(simulate(s, w, options), sat.max_deficit)) lo = mid;
    else hi = mid;
  }
  return 0.5 * (lo + hi);
}

}  // namespace prfaas::sim

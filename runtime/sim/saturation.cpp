#include "runtime/sim/saturation.h"

#include <algorithm>
#include <tuple>

#include "runtime/sim/workload.h"

namespace prfaas::sim {

bool sustained(const sim_report& r, double max_deficit) {
  if (r.rejected > 0) return false;
  for (const auto* f : {&r.flow_prfaas, &r.flow_pd_prefill, &r.flow_decode})
    if (f->entered > 0 && 1.0 - static_cast<double>(f->left) / f->entered > max_deficit) return false;
  return true;
}

std::pair<double, double> narrow(double lo, double hi, int iterations, const rate_test& keeps_up) {
  for (int i = 0; i < iterations; ++i) {
    const double mid = 0.5 * (lo + hi);
    (keeps_up(mid) ? lo : hi) = mid;
  }
  return {lo, hi};
}

probe_result probe_rate(double start, int iterations, const rate_test& keeps_up) {
  probe_result r;
  auto step = [&](double rate) {
    const bool ok = keeps_up(rate);
    if (ok) r.sustained = std::max(r.sustained, rate);
    else if (r.ceiling == 0 || rate < r.ceiling) r.ceiling = rate;
    return ok;
  };
  double rate = 0.25 * (start > 0 ? start : 1);
  if (step(rate)) {
    for (int i = 0; i < 6 && r.ceiling == 0; ++i) step(rate *= 2);
  } else {
    for (int i = 0; i < 3 && r.sustained == 0; ++i) step(rate /= 2);
  }
  if (r.sustained > 0 && r.ceiling > 0) std::tie(r.sustained, r.ceiling) = narrow(r.sustained, r.ceiling, iterations, keeps_up);
  return r;
}

double saturation_rate(const scenario& s, const sim_options& options, const saturation_options& sat) {
  const auto [lo, hi] = narrow(sat.lo_rps, sat.hi_rps, sat.iterations, [&](double rate) {
    return sustained(simulate(s, generate(s, sat.requests, rate, sat.seed), options), sat.max_deficit);
  });
  return 0.5 * (lo + hi);
}

}  // namespace prfaas::sim

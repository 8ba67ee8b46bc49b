#include "runtime/policy/planner.h"

#include "runtime/common/errc.h"

namespace prfaas::policy {
namespace {

deployment_shape shape_of(const plan_input& in, int n_prfaas, int n_p, int n_d) {
  return deployment_shape{n_prfaas, n_p, n_d, in.link_gbps, in.output_tokens};
}

bool better(const throughput_point& a, const throughput_point& b) {
  return a.lambda_max > b.lambda_max * (1 + 1e-12);
}

void check(const plan_input& in) {
  PRFAAS_REQUIRE(in.prfaas && in.pd && in.lengths, "plan input needs profiles and a length distribution");
  PRFAAS_REQUIRE(in.n_prfaas >= 0 && in.n_local >= 1, "plan input needs at least one local instance");
}

}  // namespace

throughput_point best_threshold(const plan_input& in, int n_p) {
  check(in);
  throughput_point best;
  best.lambda_max = -1;
  const auto shape = shape_of(in, in.n_prfaas, n_p, in.n_local - n_p);
  for (double t : in.lengths->threshold_grid(in.threshold_points)) {
    // Without PrfaaS instances only "offload nothing" is a deployment.
    if (in.n_prfaas == 0 && in.lengths->prob_above(t) > 0) continue;
    const auto r = evaluate(*in.prfaas, *in.pd, shape, *in.lengths, t);
    if (better(r, best)) best = r;
  }
  return best;
}

throughput_point plan(const plan_input& in) {
  check(in);
  throughput_point best;
  best.lambda_max = -1;
  for (int n_p = 0; n_p <= in.n_local; ++n_p) {
    const auto r = best_threshold(in, n_p);
    if (better(r, best)) best = r;
  }
  return best;
}

throughput_point plan_homogeneous(const plan_input& in, int instances) {
  plan_input h = in;
  h.n_prfaas = 0;
  h.n_local = instances;
  return plan(h);
}

throughput_point plan_naive(const plan_input& in) {
  check(in);
  const double all = in.lengths->min() - 1;  // every request is "long"
  return evaluate(*in.prfaas, *in.pd, shape_of(in, in.n_prfaas, 0, in.n_local), *in.lengths, all);
}

}  // namespace prfaas::policy

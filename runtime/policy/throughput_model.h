#pragma once
// The analytic throughput model of PAPER.md §4, over any distribution of uncached length.
//
//   p       = P(L > t),  l_long = E[L | L > t],  l_short = E[L | L <= t]
//   Θ_prfaas = min( N_prfaas / T_prfaas(l_long), B_out / S_kv(l_long) )
//   Θ_pd-p   = N_p / T_pd(l_short)
//   Θ_pd-d   = N_d · BS_max / (T_decode · L_out)
//   Λ_max    = min( Θ_prfaas / p, Θ_pd-p / (1 - p), Θ_pd-d )
//
// A term whose share is zero (p = 0 or p = 1) does not bind.  Rates in requests per second.

#include "runtime/policy/length_distribution.h"
#include "runtime/profile/instance_profile.h"

namespace prfaas::policy {

struct deployment_shape {
  int n_prfaas = 0;          // PrfaaS prefill instances
  int n_p = 0;               // local PD prefill instances
  int n_d = 0;               // local PD decode instances
  double link_gbps = 0;      // B_out, PrfaaS egress
  double output_tokens = 1;  // L_out
};

struct throughput_point {
  deployment_shape shape;
  double threshold = 0;      // t, tokens
  double p = 0, l_long = 0, l_short = 0;
  double theta_prfaas = 0, theta_pd_p = 0, theta_pd_d = 0;
  double lambda_max = 0;
  double egress_gbps = 0;    // PrfaaS egress at Λ_max
  double link_utilisation = 0;
};

throughput_point evaluate(const profile::instance_profile& prfaas, const profile::instance_profile& pd,
                          const deployment_shape& shape, const length_distribution& lengths, double threshold);

}  // namespace prfaas::policy

#pragma once
// Sizing a PrfaaS-PD deployment (PAPER.md §4-§5): the exhaustive two-dimensional grid search
// over the threshold t and the local split N_p / N_d, and the two baselines solved the same way.

#include <span>
#include <vector>

#include "runtime/policy/throughput_model.h"

namespace prfaas::policy {

struct plan_input {
  const profile::instance_profile* prfaas = nullptr;  // PrfaaS cluster hardware
  const profile::instance_profile* pd = nullptr;      // local PD cluster hardware
  int n_prfaas = 0;
  int n_local = 0;            // N_p + N_d
  double link_gbps = 0;
  double output_tokens = 1;
  const length_distribution* lengths = nullptr;
  size_t threshold_points = 512;  // grid resolution over t (quantiles of the distribution)
};

// The (t, N_p) maximising Λ_max; ties keep the smaller t, then the smaller N_p.
throughput_point plan(const plan_input& in);
// Best t for a fixed split (the router's short-timescale re-search).
throughput_point best_threshold(const plan_input& in, int n_p);
// Homogeneous PD: `instances` local PD instances, no PrfaaS, the best N_p / N_d.
throughput_point plan_homogeneous(const plan_input& in, int instances);
// Naive heterogeneous: every prefill on the PrfaaS instances, every local instance decodes,
// no length routing.
throughput_point plan_naive(const plan_input& in);

}  // namespace prfaas::policy

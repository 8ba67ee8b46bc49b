#pragma once
// `prfaas bench cluster`: the source design's case study, live on this machine.  Three
// deployments of the scenario, each as real processes on the emulated engine (profiles played
// back time_scale times faster, KV kv_scale times smaller, runtime/engine/emulated_engine.h),
// run back to back with the same seeded arrivals:
//   prfaas_pd            the planner's PrfaaS-PD deployment (PrfaaS + local prefill + decode, t)
//   homogeneous_pd       the baseline of local instances only, the planner's P/D split
//   naive_heterogeneous  every prefill on the PrfaaS instances, every local instance decodes
// For each, a saturation probe over the offered rate (doubling from a quarter of the planner's
// figure until a rate falls behind, then bisection) finds the sustained rate: the highest rate at
// which the system keeps up (every request completes, TTFT does not grow), and the completion
// rate measured there.  The simulator runs the same arrivals through the same probe side by side.
// A deployment that does not start, or keeps up with no rate, is an error naming it, never a
// number; `sim_only` output says it is simulated.  Rates, times and bandwidths are reported in
// the profiles' units (live figures multiplied back by the scales).
//
// With `collapse`, instead: the PrfaaS-PD deployment with the live threshold controller on, and
// the link dropped from the scenario's bandwidth to collapse_gbps a third of the way in; t,
// egress and TTFT are sampled over time and plotted.

#include <cstdint>
#include <string>

namespace prfaas::apps {

struct bench_cluster_options {
  std::string scenario;
  double time_scale = 10;
  double kv_scale = 256;
  int requests = 600;          // per offered rate
  int iterations = 5;          // bisection steps after the probe has bracketed the sustained rate
  uint64_t seed = 1;
  bool json = false;
  std::string out_dir = "bench-cluster";
  std::string only;            // one deployment key, or all
  bool sim_only = false;       // the simulator's side only (seconds, no processes), marked simulated
  bool collapse = false;
  double collapse_gbps = 3;
  double collapse_load = 0.3;  // offered rate, as a fraction of the planned Λ_max (within what 3 Gbps sustains)
};

int bench_cluster(const bench_cluster_options& o);

}  // namespace prfaas::apps

#pragma once
// A planning / simulation scenario: hardware of both clusters, the link between them, the
// workload, and the simulator's knobs.  One TOML file (scenarios/); profile paths are relative
// to the scenario file.  Errors name file and line.
//
//   [prfaas] profile, instances, staging_gib   [pd] profile, instances
//   [baseline] homogeneous_instances     [link] gbps, schedule = [[time_s, gbps], ...]
//   [workload] lengths = "lognormal" (mu, sigma, min_tokens, max_tokens) | "trace" (trace)
//              output_tokens, arrival = "poisson" | "onoff" (on_s, off_s) | "trace",
//              load (fraction of the planned Λ_max) or rate (requests/s)
//   [sim] requests, seed, prefill_token_budget, prefix_cache_blocks, block_tokens,
//         snapshot_every_blocks, snapshot_cost_blocks,
//         control_period_s, rebalance_period_s, controller, rebalancer, sample_period_s

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "runtime/profile/instance_profile.h"

namespace prfaas::sim {

// The most requests one simulation runs; more is refused by name.  Generated requests are made
// as they arrive and forgotten as they end, so memory follows the requests in flight, not this
// count (a trace, and `prfaas sim --out`'s per-request file, keep them all).
inline constexpr int kMaxRequests = 1'000'000'000;

struct scenario {
  std::string path;
  profile::instance_profile prfaas, pd;
  std::string prfaas_path, pd_path;   // the profiles' files
  int n_prfaas = 0, n_pd = 0;
  // A PrfaaS instance's KV staging (the live transport.staging_mib): finished prefills' KV
  // waiting for the link.  A batch that does not fit waits for transfers to end (one always
  // fits an empty area), and the instance takes no new requests meanwhile.  0: unbounded.
  double staging_gib = 0;
  int homogeneous_instances = 0;      // 0: the same instance count as n_prfaas + n_pd
  double link_gbps = 100;
  std::vector<std::pair<double, double>> link_schedule;  // (from time_s, gbps), sorted
  // workload
  std::string lengths = "lognormal";
  double mu = 9.9, sigma = 1.0, min_tokens = 128, max_tokens = 131072;
  std::string trace;                  // a trace in the format of ../shared/traces
  double output_tokens = 1024;        // for generated requests (traces carry their own)
  std::string arrival = "poisson";
  double load = 0.9, rate = 0;        // rate > 0 overrides load
  double on_s = 60, off_s = 60;       // on/off bursts: all arrivals fall in "on" windows
  // simulator
  int requests = 10000;
  uint64_t seed = 1;
  double prefill_token_budget = 65536;  // tokens per prefill batch (one request at least)
  long prefix_cache_blocks = 0;       // per cluster; 0 disables prefix caching
  int snapshot_every_blocks = 1;      // linear-state snapshots (the hybrid hit rule, sim/prefix_cache.h)
  double snapshot_cost_blocks = 0;    // cache capacity one snapshot takes, in blocks
  int block_tokens = 512;             // trace hash_ids cover this many tokens each
  double control_period_s = 30;
  double rebalance_period_s = 300;
  double sample_period_s = 10;        // egress time series resolution
  bool controller = true;
  bool rebalancer = true;

  double link_gbps_at(double time_s) const;
};

scenario load_scenario(const std::string& path);

}  // namespace prfaas::sim

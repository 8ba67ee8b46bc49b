#pragma once
// Discrete-event simulation of a PrfaaS-PD deployment, driving the router's own control-plane
// core (sched::core: every request's state machine, node loads, policy::route) and its policy
// code (policy::threshold_controller and policy::rebalancer per period).  The simulator holds
// only the simulated world: queues, batches, the link, decode slots and time.
//
// The model, stage by stage:
//   - Routing at arrival: each cluster's prefix cache gives its hit; policy::route picks the
//     path and the least loaded prefill and decode instances.
//   - Prefill instances serve a FIFO queue in batches: requests join a batch while their
//     uncached tokens fit the token budget (one at least); a batch takes the sum of the
//     profile's T_prefill of its members.  The prefill's cluster caches the prompt's blocks.
//   - PrfaaS output crosses the inter-cluster link, a FIFO server whose bandwidth follows the
//     scenario's schedule.  Layer-wise pipelining lets a transfer start with its batch; its KV
//     is at the decode instance when both the link and the batch are done.  Local prefills hand
//     KV over at once (intra-cluster RDMA never binds).
//   - Decode instances hold BS_max sequences; a sequence takes output_tokens steps of
//     T_decode; later arrivals wait.  TTFT is arrival to the first decode step's end.
// Everything random comes from the seeded workload; the same seed gives the same report.

#include <cstdint>
#include <functional>
#include <vector>

#include "runtime/sim/scenario.h"
#include "runtime/sim/workload.h"

namespace prfaas::sched { class request_checker; }

namespace prfaas::sim {

struct request_record {
  double arrival_s = 0, ttft_s = 0, finish_s = 0;
  int input_tokens = 0, uncached_tokens = 0, output_tokens = 0;
  int cached_tokens = 0;        // reused from the prefix cache of the cluster that prefilled it
  bool offloaded = false;
  bool rejected = false;        // no prefill or decode instance could take it
  double threshold = 0;         // t when it was routed
};

struct time_sample {
  double time_s = 0;
  double egress_gbps = 0;
  double link_gbps = 0;
  double threshold = 0;
};

struct stage_flow {               // for stability checks: counts inside [0, last arrival]
  long entered = 0, left = 0;
};

struct sim_report {
  long requests = 0, completed = 0, rejected = 0;
  double duration_s = 0;          // first arrival to last completion
  double throughput_rps = 0;      // completed / duration
  double ttft_mean_s = 0, ttft_p50_s = 0, ttft_p90_s = 0, ttft_p99_s = 0;
  double tpot_s = 0;
  double offload_fraction = 0;
  double cache_hit_rate = 0;      // prompt tokens reused from a prefix cache / prompt tokens
  double egress_utilisation = 0;  // PrfaaS bytes / link capacity over the whole run
  double util_prfaas = 0, util_pd_prefill = 0, util_decode = 0;
  double final_threshold = 0;
  int final_n_p = 0, final_n_d = 0;
  int threshold_moves = 0, conversions = 0;
  // KV staging on PrfaaS instances (scenario::staging_gib): the most one held, how often a
  // batch waited for room, and instance-seconds spent waiting.
  double staging_peak_bytes = 0;
  long staging_waits = 0;
  double staging_wait_s = 0;
  stage_flow flow_prfaas, flow_pd_prefill, flow_decode;
  std::vector<time_sample> samples;
  std::vector<request_record> records;   // in arrival order (sim_options::keep_records)
};

struct sim_options {
  double threshold = 0;           // initial t (tokens)
  int n_p = 0;                    // initial local prefill instances (the rest decode)
  std::function<void(double done_fraction)> progress;  // called about every 1 %
  sched::request_checker* checker = nullptr;  // watches every step of the control-plane core
  // Every request's record in the report (memory grows with the run: 48 bytes a request).  Off,
  // the simulator holds only the requests in flight and folds the ended ones into the report's
  // figures (TTFT quantiles from quantile_sketch.h, within 0.05 %).
  bool keep_records = true;
};

// Requests are read from `workload` as their arrivals come near.
sim_report simulate(const scenario& s, request_source& workload, const sim_options& options);
sim_report simulate(const scenario& s, const std::vector<request>& workload, const sim_options& options);

}  // namespace prfaas::sim

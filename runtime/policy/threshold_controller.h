#pragma once
// The router's short-timescale loop (PAPER.md §6): watch PrfaaS egress utilisation and the
// PrfaaS queue depth; near the ceiling, on a queue surge, or with the link far from busy,
// re-search t over the recent incremental-length distribution with the link's current
// bandwidth, and move t only when that promises a real gain (hysteresis).
//
// Defaults (the paper leaves them open): ceiling 0.9, "abundant" below 0.5, queue surge at 4
// waiting requests per PrfaaS instance, window of the last 8192 uncached lengths, a move needs
// a 2 % higher Λ_max.  The caller decides the period (the simulator: every 30 s of sim time).

#include <cstddef>
#include <optional>
#include <vector>

#include "runtime/policy/planner.h"

namespace prfaas::policy {

struct controller_options {
  double utilisation_high = 0.9;
  double utilisation_abundant = 0.5;
  double queue_per_instance_high = 4;
  size_t window = 8192;
  double min_gain = 0.02;
};

struct controller_inputs {
  double egress_utilisation = 0;     // bytes sent / (bandwidth x period), last period
  double prfaas_queue_per_instance = 0;
  double link_gbps = 0;              // the link's capacity now (telemetry or sim)
  int n_prfaas = 0, n_p = 0, n_d = 0;
};

class threshold_controller {
 public:
  threshold_controller(const profile::instance_profile& prfaas, const profile::instance_profile& pd,
                       double output_tokens, double initial_threshold, controller_options options = {});

  void observe(double uncached_tokens);  // every routed request
  // Called once per period; returns the new t when it moved.
  std::optional<double> on_period(const controller_inputs& in);

  double threshold() const { return threshold_; }
  bool bandwidth_abundant() const { return abundant_; }

 private:
  const profile::instance_profile& prfaas_;
  const profile::instance_profile& pd_;
  double output_tokens_;
  double threshold_;
  controller_options options_;
  std::vector<double> window_;  // ring buffer of uncached lengths
  size_t next_ = 0;
  bool abundant_ = false;
};

}  // namespace prfaas::policy

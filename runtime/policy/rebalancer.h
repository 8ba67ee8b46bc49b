#pragma once
// The long-timescale loop (PAPER.md §6): from per-stage utilisation over a period, tell a
// prefill-bound local PD cluster from a decode-bound one and convert one local instance between
// prefill and decode.  PrfaaS instances never decode.
//
// Rule (the paper leaves it open): prefill-bound when local prefill is busy above `busy` (0.85)
// while decode slots are occupied below `idle` (0.6), and the reverse; the gap between the two
// is the hysteresis, at most one conversion per period, and never below one instance per role.

namespace prfaas::policy {

struct rebalance_inputs {
  double pd_prefill_busy = 0;    // busy fraction of local prefill instances, last period
  double decode_occupancy = 0;   // occupied fraction of decode slots, last period
  int n_p = 0, n_d = 0;
};

struct rebalance_options {
  double busy = 0.85;
  double idle = 0.6;
};

// +1: convert a decode instance to prefill; -1: a prefill instance to decode; 0: stay.
int rebalance(const rebalance_inputs& in, const rebalance_options& options = {});

}  // namespace prfaas::policy

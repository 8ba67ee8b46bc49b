#pragma once

#include "apps/cli_support.h"
// `prfaas replay`: sends a trace (../shared/traces format) to a running deployment, with each
// trace block's id mapped to fixed token content (sim/trace_prompt.h) so that shared prefixes
// really are shared, and reports the prefix-cache hit rate, the offload share and TTFT per path.
// Clients retry within each request's deadline (actors::generate_retrying), as a fault run
// needs; `outcomes` writes every request's outcome for `prfaas check` (faults/outcome_check.h).

#include <caf/fwd.hpp>

#include <string>

#include "runtime/common/endpoint.h"
#include "runtime/control/router_locator.h"

namespace prfaas::apps {

struct replay_options {
  std::string trace;
  long requests = 1000;   // the first N requests of the trace
  int scale_tokens = 32;  // trace tokens per prompt byte (divides 512)
  int concurrency = 4;    // requests in flight at once, sent in trace order
  int max_tokens = 4;     // output tokens per request (the trace's, scaled, capped at this)
  int context = 4096;     // the model's context: longer prompts are cut to fit
  int deadline_ms = 60000; // each request's deadline
  std::string outcomes;   // write one JSON line per request here (empty: none)
  bool as_json = false;
  sampling_flags sampling;  // with a seed, request i samples with seed + i
  int logprobs = -1;        // each output token's log-probability and its top N, in the outcomes (-1: none)
};

int replay_command(caf::actor_system& sys, const control::router_locator& router_at, const replay_options& options);

}  // namespace prfaas::apps

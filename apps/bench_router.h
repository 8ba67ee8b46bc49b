#pragma once
// `prfaas bench router`: what the control plane costs per request.  Starts a deployment on the
// emulated engine made nearly free (time_scale 10,000: a prefill or a decode step takes
// microseconds), sends `requests` short requests from `concurrency` clients at once over the
// actor plane, and reads the router process's CPU time and read/write system calls from /proc
// before and after: CPU per completed request, the decisions per second the router's CPU would
// allow at one core (1 / CPU per request), the rate reached, syscalls per request.  Beside it,
// in the same run, the control-plane core alone (sched::core driven through a request's events,
// as the simulator drives it): what the router's adapter, CAF and the kernel add.
//
// With `cap` (a share of one core), the router runs in a cgroup capped at it for the measured
// requests (cpu_cap.h): it is then the bottleneck, and its CPU per request is measured at
// saturation, where each wake-up finds many messages waiting.  On a small machine the nodes and
// clients otherwise take most of the CPU and the router never saturates.
//
// The clients share one door to the router (client_door.hpp), as a gateway's handlers would: a
// round of requests in one message, the router's answers of a round in one message.  `direct`:
// each client asks the router itself, one message each way per request (the baseline).
// `news_gap_ms` sets the nodes' node.news_gap_ms: at most one message of news per gap from each.
// `kv_scale` sets the emulated KV's size: the largest scale makes the nodes' data plane nearly
// free, so on a small machine the router's cost is not measured at the rate the KV's copies allow.

#include <string>

namespace prfaas::apps {

struct bench_router_options {
  std::string config = "configs/emulated.toml";  // its engine profiles and node counts
  int concurrency = 64;
  int requests = 2000;
  int prompt_bytes = 200;
  int max_tokens = 4;
  double cap = 0;  // of one core for the router; 0: none
  bool direct = false;  // no door: each client's request and answer a message of its own
  double news_gap_ms = -1;  // the nodes' node.news_gap_ms (outbox.hpp); < 0: the config's
  double kv_scale = 0;      // the emulated engine's engine.kv_scale; 0: the config's
  bool json = false;
};

int bench_router(const bench_router_options& options);

}  // namespace prfaas::apps

#pragma once
// The CAF configuration every prfaas process uses: message types, the prfaas error category,
// the io middleman, a sharing scheduler (half the latency of work stealing on 2 cores), and
// middleman heartbeats so that a hung peer, not only a crashed one, is seen as down.

#include <caf/actor_system_config.hpp>

#include "runtime/config/deployment_config.h"

namespace prfaas::actors {

class system_config : public caf::actor_system_config {
 public:
  explicit system_config(const config::router_config& timing, size_t scheduler_threads = 2);
};

}  // namespace prfaas::actors

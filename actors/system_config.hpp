#pragma once
// The CAF configuration every prfaas process uses: message types, the prfaas error category,
// the io middleman, a sharing scheduler (half the latency of work stealing on 2 cores), and
// middleman heartbeats so that a hung peer, not only a crashed one, is seen as down.  Given
// credentials, it loads CAF's OpenSSL module, which then verifies every peer against the CA in
// both directions (actors/actor_plane.hpp takes that door).

#include <caf/actor_system_config.hpp>

#include "actors/actor_plane.hpp"
#include "runtime/config/deployment_config.h"

namespace prfaas::actors {

class system_config : public caf::actor_system_config {
 public:
  explicit system_config(const config::router_config& timing, size_t scheduler_threads = 2, const tls_files& tls = {});
};

}  // namespace prfaas::actors

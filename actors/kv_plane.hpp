#pragma once
// The KV data plane's settings for a node, from the deployment config: its links' options (as a
// sender) and its receiver's; and its receiver's events as messages to the role.

#include <caf/actor_addr.hpp>

#include <string>

#include "actors/roles.hpp"
#include "runtime/config/deployment_config.h"
#include "runtime/transport/kv_receiver.h"
#include "runtime/transport/link_options.h"

namespace prfaas::actors {

// The node's secret and fault points come from its context.
transport::link_options link_options_for(const config::deployment_config& config, const std::string& name,
                                         const worker_context& context);
transport::receiver_options receiver_options_for(const config::deployment_config& config, const std::string& secret);

// The receiver's threads hand each event to `role` as a kv_event message.  A weak address: the
// receiver the role owns holds no reference back to it.
transport::transfer_registry::event_sink kv_events_to(caf::actor_addr role);

}  // namespace prfaas::actors

#pragma once
// The roles a prfaas-node process can take (`--role`).  The router's view of registered nodes,
// their loads and the requests they hold lives in the control-plane core (runtime/sched).

#include <string>

namespace prfaas::cluster {

// gateway: the OpenAI-compatible HTTP front door, a client of the router (it never registers).
enum class node_role { router, cache_directory, prefill, decode, gateway };
// Throws failure(invalid_argument) naming the accepted roles.
node_role parse_role(const std::string& text);
const char* to_string(node_role role);

}  // namespace prfaas::cluster

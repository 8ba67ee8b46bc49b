#pragma once
// The gateway role (`prfaas-node --role=gateway`): an OpenAI-compatible HTTP server
// (cpp-httplib) in front of the router, whose client it is, like the CLI.  The API's rules are
// runtime/gateway/openai.h; this file only serves them.
//
//   POST /v1/completions, POST /v1/chat/completions   (stream: true as server-sent events)
//   GET  /v1/models, GET /health
//
// Limits from [gateway]: body size (413), requests in progress (429), tokens per request, and
// API keys (401) when a key file is named.

#include <caf/fwd.hpp>
#include <csignal>
#include <string>

#include "runtime/common/endpoint.h"
#include "runtime/config/deployment_config.h"

namespace prfaas::apps {

// Serves until SIGINT or SIGTERM arrives in `signals` (blocked by the caller).  Writes the bound
// port to `port_file` (when not empty) once listening.  Returns the process's exit status.
int run_gateway(caf::actor_system& sys, const config::deployment_config& config, const endpoint& listen_at,
                const endpoint& router_at, const std::string& port_file, sigset_t& signals);

}  // namespace prfaas::apps

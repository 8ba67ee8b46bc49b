#pragma once
// The gateway role (`prfaas-node --role=gateway`): an OpenAI-compatible HTTP server
// (cpp-httplib) in front of the router, whose client it is, like the CLI.  The API's rules are
// runtime/gateway/openai.h; this file only serves them.
//
//   POST /v1/completions, POST /v1/chat/completions   (stream: true as server-sent events)
//   POST /tokenize, POST /detokenize   (vLLM's: the deployment's tokenizer and chat template)
//   GET  /v1/models, GET /health
//   GET  /metrics      Prometheus text: the gateway's families, then the router's (one scrape
//                      covers the deployment: the router hears every node's load, link and cache)
//
// Limits from [gateway]: body size (413), requests in progress (429), tokens per request, and
// API keys (401; /metrics too, /health never) when a key file is named.  A completion arriving
// while the router has no prefill or no decode node up is a 503 at once (a poller asks the
// router every half second).  Replies carry the request's timeline under "prfaas" (the last
// chunk of a stream) and its router id in X-Prfaas-Request-Id (`prfaas trace ID`).

#include <caf/fwd.hpp>
#include <csignal>
#include <string>

#include "runtime/common/endpoint.h"
#include "runtime/control/router_locator.h"
#include "runtime/config/deployment_config.h"

namespace prfaas::actors {

// HTTPS ([gateway] tls): the server's certificate and key (PEM files).  Empty: plain HTTP.
struct https_files {
  std::string certificate, key;
};

// Serves until SIGINT or SIGTERM arrives in `signals` (blocked by the caller).  Writes the bound
// port to `port_file` (when not empty) once listening.  Returns the process's exit status.
int run_gateway(caf::actor_system& sys, const config::deployment_config& config, const endpoint& listen_at,
                const control::router_locator& router_at, const std::string& port_file, sigset_t& signals, const https_files& https = {});

}  // namespace prfaas::actors

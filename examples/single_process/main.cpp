// One process, three roles: a router, a PrfaaS prefill node and a local decode node as actors of
// one actor system, their KV moved by the in-process loopback carrier instead of TCP.  Serves one
// long prompt (so it takes the PrfaaS path: prefill, KV across, decode) and checks the answer
// against the model run directly.  Built against the installed package: find_package(prfaas).
//
//   single_process [PROMPT_BYTES]      exit 0 when the output equals the direct run

#include <caf/all.hpp>

#include <chrono>
#include <iostream>
#include <string>

#include "actors/client.hpp"
#include "actors/roles.hpp"
#include "actors/system_config.hpp"
#include "runtime/kv/block_pool.h"
#include "runtime/model/generate.h"
#include "runtime/model/tokenizer.h"
#include "runtime/transport/loopback_carrier.h"

using namespace prfaas;

namespace {

// A worker node: its role actor under a supervisor, which registers it with the router and
// heartbeats, as prfaas-node does, but without a process or a socket of its own.
caf::actor start_node(caf::actor_system& sys, caf::actor router, std::function<caf::actor(caf::actor)> spawn_role) {
  actors::supervisor_options s;
  s.router = std::move(router);
  s.spawn_role = std::move(spawn_role);
  s.fatal = [](const std::string& why) { std::cerr << "single_process: node failed: " << why << "\n"; };
  return actors::spawn_supervisor(sys, s);
}

}  // namespace

int main(int argc, char** argv) {
  const size_t prompt_bytes = argc > 1 ? std::stoul(argv[1]) : 3000;
  config::deployment_config config;  // the defaults: the built-in seeded model, threshold 1,024 tokens
  config.deployment.prfaas_prefill = 1;
  actors::system_config cfg(config.router, 2);
  caf::actor_system sys{cfg};

  // The router takes names on the nodes' word here (no certificates in one process).
  auto router = caf::actor_cast<caf::actor>(actors::spawn_router(sys, config, nullptr));

  // Both workers share one loopback "network"; everything else is the config's usual parts.
  auto carrier = transport::make_loopback_carrier();
  actors::worker_context context;
  context.data_host = "127.0.0.1";

  actors::node_info prefill{"prfaas-prefill-0", "prefill", config.deployment.prfaas_cluster, true};
  prefill.model = config.model.fingerprint();
  auto prefill_options = actors::prefill_options_for(config, prefill, context);
  prefill_options.parts.carrier = carrier;
  auto p = start_node(sys, router, [&sys, prefill_options](caf::actor r) {
    return caf::actor_cast<caf::actor>(actors::spawn_prefill(sys, prefill_options, r));
  });

  actors::node_info decode{"local-decode-0", "decode", config.deployment.local_cluster, false};
  decode.model = config.model.fingerprint();
  auto decode_options = actors::decode_options_for(config, decode, context);
  decode_options.parts.carrier = carrier;
  auto d = start_node(sys, router, [&sys, decode_options](caf::actor r) {
    return caf::actor_cast<caf::actor>(actors::spawn_decode(sys, decode_options, r));
  });

  std::string prompt;
  for (size_t i = 0; prompt.size() < prompt_bytes; ++i) prompt += "word" + std::to_string(i % 97) + " ";
  prompt.resize(prompt_bytes);
  actors::generate_request req;
  req.prompt = prompt;
  req.max_tokens = 12;
  // The nodes register within a heartbeat or two; until then the router has nowhere to send it.
  caf::expected<actors::generate_result> out = caf::error{};
  for (int attempt = 0; attempt < 50; ++attempt) {
    out = actors::generate(sys, router, req, std::chrono::seconds(30));
    if (out) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  int status = 0;
  if (!out) {
    std::cerr << "single_process: the request failed: " << actors::describe(out.error()) << "\n";
    status = 1;
  } else {
    model::hybrid_model m(config.model);
    kv::block_pool pool(config.model.block_bytes(), config.node.kv_blocks);
    const auto direct = model::generate(m, pool, model::encode(prompt), req.max_tokens);
    const bool same = direct.tokens == out->tokens;
    std::cout << "path " << out->path << ", prefill " << out->prefill_node << ", decode " << out->decode_node
              << ", " << out->kv_bytes << " KV bytes over the loopback carrier, " << out->tokens.size()
              << " tokens, " << (same ? "equal to" : "DIFFERENT from") << " the direct run\n";
    status = same && out->path == "prfaas" ? 0 : 1;
  }
  caf::anon_send_exit(p, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(d, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(router, caf::exit_reason::user_shutdown);
  return status;
}

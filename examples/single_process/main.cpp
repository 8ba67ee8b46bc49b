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
#include "actors/node.hpp"
#include "actors/system_config.hpp"
#include "runtime/kv/block_pool.h"
#include "runtime/model/generate.h"
#include "runtime/model/tokenizer.h"
#include "runtime/transport/loopback_carrier.h"

using namespace prfaas;

namespace {

// A worker node assembled as prfaas-node assembles one (actors/node.hpp: a supervisor that
// registers it with the router and heartbeats), without a process or a socket of its own: its
// KV moves on `carrier`.
caf::actor start_node(caf::actor_system& sys, const config::deployment_config& config, caf::actor router,
                      cluster::node_role role, const std::string& name, const std::string& cluster,
                      std::shared_ptr<transport::carrier> carrier) {
  actors::node_spec s;
  s.config = config;
  s.role = role;
  s.name = name;
  s.cluster = cluster;
  s.router = std::move(router);
  s.worker.data_host = "127.0.0.1";
  s.worker.carrier = std::move(carrier);
  s.fatal = [](const std::string& why) { std::cerr << "single_process: node failed: " << why << "\n"; };
  return actors::start_node(sys, std::move(s));
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
  auto p = start_node(sys, config, router, cluster::node_role::prefill, "prfaas-prefill-0",
                      config.deployment.prfaas_cluster, carrier);
  auto d = start_node(sys, config, router, cluster::node_role::decode, "local-decode-0",
                      config.deployment.local_cluster, carrier);

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

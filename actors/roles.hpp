#pragma once
// Spawn functions of the role actors and of the node supervisor.  Each role actor is a thin
// shell over runtime/ code (named beside each function); it answers status_atom with its
// node_info so the supervisor can register it.

#include <caf/fwd.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "actors/interfaces.hpp"
#include "actors/messages.hpp"
#include "runtime/common/cancel_board.h"
#include "runtime/common/endpoint.h"
#include "runtime/control/roster.h"
#include "runtime/control/router_locator.h"
#include "runtime/faults/fault_points.h"
#include "runtime/config/deployment_config.h"
#include "runtime/text/tokenizer.h"
#include "runtime/security/pki.h"
#include "runtime/transport/carrier.h"
#include "runtime/transport/pacer.h"

namespace prfaas::engine { class engine; }
namespace prfaas::profile { struct instance_profile; }
namespace prfaas::kv { class block_pool; class prefix_cache; }

namespace prfaas::actors {

// Router: an adapter around the control-plane core (runtime/sched/core.h).
struct router_options {
  config::router_config policy;       // [router]: threshold, deadlines, bounds, controller, rebalancer
  model::model_config model;          // what nodes must serve; requests are checked against it
  std::string prfaas_cluster = "prfaas", local_cluster = "local";
  double link_gbps = 0;               // the inter-cluster link's capacity (0: unknown)
  // The live threshold controller's instance profiles (policy.controller; without them it is off).
  std::shared_ptr<const profile::instance_profile> prfaas_profile, pd_profile;
  // The deployment's CA: a node registers only under the name and role of the certificate whose
  // key signed its registration; null (--insecure): names are taken on the node's word.
  std::shared_ptr<const security::verifier> trust;
  // Standby routers: the names of the registered nodes, set whenever they change for the
  // leader's keeper to put in etcd; at the start, those the previous leader held, whom routing
  // waits for (up to policy.settle_ms).  Null: no roster kept.
  std::shared_ptr<control::roster> roster;
};
// From the deployment config; the controller's profiles are loaded (scaled for an emulated engine).
router_options router_options_for(const config::deployment_config& config, std::shared_ptr<const security::verifier> trust);
router_actor spawn_router(caf::actor_system& sys, router_options options);
router_actor spawn_router(caf::actor_system& sys, const config::deployment_config& config,
                          std::shared_ptr<const security::verifier> trust);

// Cache directory: kv::prefix_directory over chains of `block_tokens`-token blocks (the model's).
// `trusted`: a cache update is taken only from the certificate of the node it names (false:
// --insecure, or one process of trusting roles: on the sender's word).  `published_at`: where
// nodes reach it (its node_info's data_endpoint says so; null: nodes of its own process only).
// `news_gap`: at most one message of changes to the router watching it per gap
// (node.news_gap_ms in the config's form).
cache_directory_actor spawn_cache_directory(caf::actor_system& sys, node_info self, int block_tokens, bool trusted,
                                            std::function<std::string()> published_at = {},
                                            std::chrono::microseconds news_gap = {});
cache_directory_actor spawn_cache_directory(caf::actor_system& sys, const config::deployment_config& config,
                                            node_info self, bool trusted, std::function<std::string()> published_at = {});

// What a worker role gets from its node beside the config: where its KV receiver listens, the
// secret that authenticates its KV links both ways, and the node's shared services.
struct worker_context {
  std::string data_host;       // where its KV receiver listens
  std::string advertise_host;  // the host others dial for it (empty: data_host)
  uint16_t data_port = 0;      // its KV receiver's port (0: any free one)
  // The endpoint peers dial for a receiver bound at `port`.
  std::string data_endpoint(uint16_t port) const {
    return endpoint{advertise_host.empty() ? data_host : advertise_host, port}.str();
  }
  std::string secret;
  std::shared_ptr<cancel_board> cancels;  // written by the node's supervisor (null: none)
  std::shared_ptr<fault_injector> faults; // the config's [faults] (null: none)
  std::shared_ptr<transport::pacer> egress;  // PrfaaS prefill nodes: the emulated inter-cluster link
  // Makes the node's engine (null: engine::make_engine, the CPU).  An app may give its own.
  std::function<std::shared_ptr<engine::engine>(const config::deployment_config&, bool prfaas)> make_engine;
  // Moves the node's KV (null: TCP); one process of several nodes gives them one loopback carrier.
  std::shared_ptr<transport::carrier> carrier;
};

// What a worker role computes with.  A node makes them from its config (make_worker_parts); an
// app may give its own: the emulated engine, a smaller pool, the loopback carrier.
struct worker_parts {
  std::shared_ptr<engine::engine> engine;      // a model (built-in or a checkpoint) or an emulated profile
  std::shared_ptr<const text::tokenizer> tokenizer;  // the model's (decode: stop strings); null: bytes
  std::shared_ptr<kv::block_pool> pool;        // KV blocks and linear-state slots
  std::shared_ptr<kv::prefix_cache> cache;     // over `pool` (budget 0: caches nothing)
  std::shared_ptr<transport::carrier> carrier; // moves KV: TCP between hosts, loopback in one process
};
// The context's engine (else engine::make_engine), a pool of node.kv_blocks, the cache's budget,
// the context's carrier (else TCP).
worker_parts make_worker_parts(const config::deployment_config& config, bool prfaas,
                               const worker_context& context = {});

// A prefill node's settings.
struct prefill_options {
  node_info self;                      // its name, cluster and role
  worker_context context;
  worker_parts parts;
  transport::link_options links;       // its KV links (timeouts bound a job's wait)
  transport::receiver_options receiver;  // its receiver of pulled prefixes
  std::shared_ptr<transport::pacer> egress;  // paces its links together (a PrfaaS node's share of the link)
  long token_budget = 0;               // > 0: jobs batched up to this many prompt tokens
  uint64_t staging_bytes = 1ull << 30;  // KV of finished prefills still crossing (kv_staging.h)
  std::chrono::microseconds news_gap{0};  // its news to the router: at most one message per gap (outbox.hpp)
};
// From the deployment config: the links' options (link_options_for), its egress (a PrfaaS node
// crosses the inter-cluster link), the node's parts.
prefill_options prefill_options_for(const config::deployment_config& config, node_info self, worker_context context);

// Prefill node: its engine prefilling over its kv::prefix_cache, streaming each layer over a
// transport::link_pool of its carrier; reports link telemetry and cache updates to `router`.  Its
// own KV receiver takes prefixes pulled from other nodes' caches.  A job cancelled on the board
// stops before it starts or after the layer in progress.
prefill_actor spawn_prefill(caf::actor_system& sys, prefill_options options, caf::actor router);
prefill_actor spawn_prefill(caf::actor_system& sys, const config::deployment_config& config,
                            node_info self, caf::actor router, worker_context context);

// A decode node's settings.
struct decode_options {
  node_info self;
  worker_context context;
  worker_parts parts;
  transport::link_options links;       // pushes of cached prefixes to prefill nodes
  transport::receiver_options receiver;
  int max_sequences = 64;              // decoding at once
  bool cache_finished = true;          // finished sequences go into the cache (snapshots kept)
  std::chrono::microseconds news_gap{0};  // its news to the router: at most one message per gap (outbox.hpp)
};
decode_options decode_options_for(const config::deployment_config& config, node_info self, worker_context context);

// Decode node: its carrier's listener landing KV, engine::decode_batch decoding it.
decode_actor spawn_decode(caf::actor_system& sys, decode_options options, caf::actor router);
decode_actor spawn_decode(caf::actor_system& sys, const config::deployment_config& config,
                          node_info self, caf::actor router, worker_context context);

// The node supervisor: spawns the role actor through `spawn_role` (given the current router),
// restarts it when it fails and registers it with the router (when `router` is set).  When the
// router is lost it reconnects to `router_at` with backoff, hands the role the new router
// (router_atom) and registers again.  On a fatal error (registration
// refused, the role failing too often) it calls `fatal(message)` once.  Told convert_atom by the
// router (which drained the node first), it stops the role actor and spawns, publishes and
// registers one of the other role in its place.
struct supervisor_options {
  std::function<caf::actor(caf::actor router)> spawn_role;
  caf::actor router;                                  // null for the router's own process
  control::router_locator router_at;                  // where to reconnect (an address, or etcd's leader)
  std::function<void(const caf::actor&)> on_spawned;  // e.g. publish the new role actor
  std::function<void(const std::string&)> fatal;
  std::shared_ptr<cancel_board> cancels;  // abort_atom to the supervisor marks it (null: ignored)
  // A PrfaaS prefill node's emulated inter-cluster link: link_atom to the supervisor cuts,
  // restores (to `egress_gbps`) or re-rates it (the whole link's rate: a node with a link of its
  // own, not shared with the others, takes its 1/`egress_sharers`).
  std::shared_ptr<transport::pacer> egress;
  double egress_gbps = 0;
  int egress_sharers = 1;
  // A local prefill or decode node can change role in place: spawns the role actor of the named
  // role (prefill | decode).  Null: the node keeps its role.
  std::function<caf::actor(cluster::node_role role, caf::actor router)> spawn_as;
  // Signs the registration statement (the name and role registered, own node id, router's node
  // id); null: --insecure.
  std::function<registration_proof(const security::identity& as, const std::string& node, const std::string& router)>
      prove;
};
caf::actor spawn_supervisor(caf::actor_system& sys, supervisor_options options);

}  // namespace prfaas::actors

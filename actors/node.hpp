#pragma once
// One node of a deployment, assembled: its role actor under a supervisor that restarts it,
// registers it with the router and heartbeats, with the services its role needs (the
// cancellation board, the config's fault points, the emulated link's pacer).  prfaas-node is
// this plus a command line, a published port and signals; an app running several roles in one
// process (examples/) calls start_node once per node, with its own carrier.
//
//   actors::node_spec s;
//   s.config = config;  s.role = cluster::node_role::decode;  s.name = "local-decode-0";
//   s.cluster = "local";  s.router = router;  s.worker.data_host = "127.0.0.1";
//   caf::actor supervisor = actors::start_node(sys, s);   // exit it to stop the node
//
// A process of its own publishes each incarnation of the role actor on its listen port with a
// role_door (spec.on_spawned = door.on_spawned()).

#include <caf/actor.hpp>
#include <caf/fwd.hpp>

#include <functional>
#include <memory>
#include <string>

#include "actors/roles.hpp"
#include "runtime/cluster/node_role.h"
#include "runtime/common/endpoint.h"
#include "runtime/control/router_locator.h"
#include "runtime/config/deployment_config.h"
#include "runtime/security/pki.h"

namespace prfaas::security { class connection_guard; }

namespace prfaas::actors {

struct node_spec {
  config::deployment_config config;
  cluster::node_role role = cluster::node_role::decode;
  std::string name, cluster;
  // Where its KV receiver listens and the shared secret.  Cancels, faults and the egress pacer
  // are made by start_node when null; `worker.carrier` replaces TCP (the loopback carrier).
  worker_context worker;
  // A PrfaaS prefill node: the emulated link's state file shared with the other PrfaaS nodes of
  // this host (empty: this node takes an even share of the link).
  std::string shared_link;
  caf::actor router;   // null for the router itself
  control::router_locator router_at;  // where the supervisor reconnects to it (or the leader etcd names)
  // The router: the deployment's CA, who may register (null: names on the node's word).
  std::shared_ptr<const security::verifier> trust;
  // The router: its roster of nodes, kept in etcd by a leader (router_options::roster; null: none).
  std::shared_ptr<control::roster> roster;
  // Signs this node's registration (null: --insecure, or one process of trusting roles).
  std::shared_ptr<const security::node_credentials> credentials;
  std::function<void(const std::string&)> fatal;       // the node cannot go on (null: logged)
  std::function<void(const caf::actor&)> on_spawned;   // each new role actor (e.g. role_door)
  // Where the role actor is published (role_door::published_at): the cache directory names it
  // in its node_info, so nodes connect to it directly for their cache updates.
  std::function<std::string()> published_at;
};

// Spawns the node's supervisor, which spawns the role actor.  Throws failure when a part
// cannot be made (the link's state file).
caf::actor start_node(caf::actor_system& sys, node_spec spec);

// The listening port of a node process: each incarnation of the role actor is published on
// `listen` (a restarted one takes its predecessor's port), behind a connection guard and an
// accept rate per address (the router's bounds); the bound port goes to `port_file` once
// listening.  A port that cannot be had calls `fatal`.
class role_door {
 public:
  role_door(caf::actor_system& sys, const config::deployment_config& config, std::string name, endpoint listen,
            std::string port_file, std::function<void(const std::string&)> fatal);
  ~role_door();
  std::function<void(const caf::actor&)> on_spawned();
  // HOST:PORT where the role actor is published, `host` the one others dial (the port once bound).
  std::function<std::string()> published_at(std::string host) const;
  void close();  // unpublishes the current role actor

 private:
  struct state;
  std::shared_ptr<state> state_;
};

}  // namespace prfaas::actors

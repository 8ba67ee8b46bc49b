#include "actors/node.hpp"

#include <caf/all.hpp>
#include <caf/io/all.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdio>
#include <fstream>

#include "actors/actor_plane.hpp"
#include "runtime/security/connection_guard.h"

namespace prfaas::actors {

namespace {

// A worker's role actor as `as.role` names it (prefill | decode): at start, after a restart and
// after a conversion alike.
caf::actor spawn_worker(caf::actor_system& sys, const node_spec& spec, const node_info& as, caf::actor router) {
  return as.role == cluster::node_role::prefill ? caf::actor_cast<caf::actor>(spawn_prefill(sys, spec.config, as, router, spec.worker))
                              : caf::actor_cast<caf::actor>(spawn_decode(sys, spec.config, as, router, spec.worker));
}

}  // namespace

caf::actor start_node(caf::actor_system& sys, node_spec spec) {
  const auto& config = spec.config;
  node_info self;
  self.name = spec.name;
  self.role = spec.role;
  self.cluster = spec.cluster;
  self.prfaas = spec.cluster == config.deployment.prfaas_cluster;
  self.model = config.model.fingerprint();

  // The node's shared services: the supervisor marks cancellations, the role reads them; fault
  // points draw from one generator seeded per node.
  auto& worker = spec.worker;
  if (!worker.cancels) worker.cancels = std::make_shared<cancel_board>();
  if (!worker.faults && config.faults.any()) {
    auto f = config.faults;
    f.seed ^= std::hash<std::string>{}(spec.name);
    worker.faults = std::make_shared<fault_injector>(f);
    spdlog::warn("{}: fault points armed (seed {})", spec.name, config.faults.seed);
  }
  supervisor_options opts;
  opts.cancels = worker.cancels;
  // A PrfaaS prefill node's egress crosses the inter-cluster link.  With a shared link (prfaas
  // up gives one) the PrfaaS nodes draw on one bucket, so the link goes where the KV is; without,
  // each node gets an even share.  The pacer exists even unpaced (rate 0), so the link can be cut
  // or slowed at run time; it outlives restarts of the role.
  if (spec.role == cluster::node_role::prefill && self.prfaas) {
    const auto& t = config.transport;
    opts.egress_sharers = spec.shared_link.empty() ? std::max(1, config.deployment.prfaas_prefill) : 1;
    opts.egress_gbps = t.emulate_link ? t.link_gbps / opts.egress_sharers : 0;
    if (!worker.egress)
      worker.egress = spec.shared_link.empty() ? std::make_shared<transport::pacer>(opts.egress_gbps)
                                               : std::make_shared<transport::pacer>(opts.egress_gbps, spec.shared_link);
    opts.egress = worker.egress;
  }
  opts.fatal = spec.fatal ? spec.fatal : [name = spec.name](const std::string& why) {
    spdlog::error("{}: {}", name, why);
  };
  opts.on_spawned = spec.on_spawned;
  if (spec.credentials)
    opts.prove = [credentials = spec.credentials](const security::identity& as, const std::string& node,
                                                  const std::string& router) {
      registration_proof p;
      p.certificate_pem = credentials->certificate_pem();
      p.signature = credentials->sign(security::registration_statement(as, node, router));
      return p;
    };
  opts.router = spec.router;
  opts.router_at = spec.router_at;
  // The spawn functions share the spec (config, worker) with the supervisor for its lifetime.
  auto shared = std::make_shared<node_spec>(std::move(spec));
  switch (shared->role) {
    case cluster::node_role::router:
      opts.spawn_role = [&sys, shared](caf::actor) {
        auto o = router_options_for(shared->config, shared->trust);
        o.roster = shared->roster;
        return caf::actor_cast<caf::actor>(spawn_router(sys, std::move(o)));
      };
      break;
    case cluster::node_role::cache_directory:
      opts.spawn_role = [&sys, shared, self](caf::actor) {
        return caf::actor_cast<caf::actor>(spawn_cache_directory(
            sys, shared->config, self, /*trusted=*/shared->credentials != nullptr, shared->published_at));
      };
      break;
    case cluster::node_role::prefill:
    case cluster::node_role::decode:
      opts.spawn_role = [&sys, shared, self](caf::actor router) { return spawn_worker(sys, *shared, self, router); };
      break;
    case cluster::node_role::gateway:
      throw failure(errc::invalid_argument, "a gateway is no supervised node: actors/gateway.hpp runs it");
  }
  // A local PD node may be converted between prefill and decode by the router (P/D rebalancing),
  // in place: same name, certificate, ports and process.
  if (!self.prfaas && (shared->role == cluster::node_role::prefill || shared->role == cluster::node_role::decode))
    opts.spawn_as = [&sys, shared, self](cluster::node_role to, caf::actor router) {
      node_info as = self;
      as.role = to;
      return spawn_worker(sys, *shared, as, router);
    };
  return spawn_supervisor(sys, std::move(opts));
}

struct role_door::state {
  caf::actor_system* sys;
  config::deployment_config config;
  std::string name;
  endpoint listen;
  std::string port_file;
  std::function<void(const std::string&)> fatal;
  caf::actor published;
  uint16_t bound_port = 0;
  // Strangers on the published port (idle, or trickling a TLS handshake) are shut out after a
  // stall and beyond a bound: CAF 0.17 sets neither (runtime/security/connection_guard.h).
  std::shared_ptr<security::connection_guard> guard;
};

role_door::role_door(caf::actor_system& sys, const config::deployment_config& config, std::string name,
                     endpoint listen, std::string port_file, std::function<void(const std::string&)> fatal)
    : state_(std::make_shared<state>()) {
  state_->sys = &sys;
  state_->config = config;
  state_->name = std::move(name);
  state_->listen = std::move(listen);
  state_->bound_port = state_->listen.port;
  state_->port_file = std::move(port_file);
  state_->fatal = std::move(fatal);
}

role_door::~role_door() = default;

std::function<void(const caf::actor&)> role_door::on_spawned() {
  return [s = state_](const caf::actor& a) {
    if (s->published) unpublish(*s->sys, s->published, s->bound_port);
    auto port = publish(*s->sys, a, s->bound_port, s->listen.host);
    if (!port) {
      s->fatal("cannot listen on " + s->listen.str() + ": " +
               (port.error() == caf::sec::cannot_open_port ? "port in use or not available" : s->sys->render(port.error())));
      return;
    }
    s->published = a;
    s->bound_port = *port;
    if (!s->guard) {
      security::guard_options guarding;
      guarding.stall_limit = std::chrono::milliseconds(std::max(3000, 2 * s->config.router.node_timeout_ms));
      const double rate = s->config.router.accepts_per_peer_per_s;
      s->guard = guard_port(s->bound_port, {rate, 2 * rate}, guarding);
    }
    if (!s->port_file.empty()) {
      std::ofstream(s->port_file + ".tmp") << *port << "\n";
      std::rename((s->port_file + ".tmp").c_str(), s->port_file.c_str());
    }
    spdlog::info("{} listening on {}:{}", s->name, s->listen.host, *port);
  };
}

std::function<std::string()> role_door::published_at(std::string host) const {
  return [s = state_, host = std::move(host)] { return endpoint{host, s->bound_port}.str(); };
}

void role_door::close() {
  if (state_->published) unpublish(*state_->sys, state_->published, state_->bound_port);
  state_->published = nullptr;
}

}  // namespace prfaas::actors

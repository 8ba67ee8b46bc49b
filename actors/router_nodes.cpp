// The router adapter's view of the nodes (router_parts.hpp): who registered and who was lost,
// who may speak for a request, where the cache directory is, the slow loops of the control
// plane on their timers, the inter-cluster link, status and metrics.

#include <spdlog/spdlog.h>

#include "actors/actor_plane.hpp"
#include "actors/router_parts.hpp"
#include "actors/sender_trust.hpp"

namespace prfaas::actors::router_parts {
namespace {

node_handles handles_for(cluster::node_role role, const caf::actor& handle, const caf::actor& control) {
  using cluster::node_role;
  node_handles h;
  h.role = handle;
  h.control = caf::actor_cast<node_control_actor>(control);
  if (role == node_role::prefill) h.prefill = caf::actor_cast<prefill_actor>(handle);
  if (role == node_role::decode) h.decode = caf::actor_cast<decode_actor>(handle);
  if (role == node_role::cache_directory) h.directory = caf::actor_cast<cache_directory_actor>(handle);
  if (role == node_role::prefill || role == node_role::decode) h.cache = caf::actor_cast<cache_holder_actor>(handle);
  return h;
}


// The node the core has doing `role` of request `id` now (empty: none, or an unknown request).
std::string holder(router_self* self, uint64_t id, sched::node_kind role) {
  const auto* view = core_of(self).find(id);
  if (!view) return {};
  const auto n = role == sched::node_kind::decode ? view->decode_node : view->prefill_node;
  if (n == sched::kNoNode) return {};
  return core_of(self).node(n).desc.name;
}


// The cache directory registered now (null: none) and the endpoint it is published at.
struct directory_entry {
  cache_directory_actor handle;
  std::string at;
};

directory_entry directory_now(router_self* self) {
  for (const auto& n : core_of(self).nodes())
    if (n.up && n.desc.kind == sched::node_kind::cache_directory)
      return {handle_of(self, n.id).directory, self->state.infos.at(n.desc.name).data_endpoint};
  return {};
}


// Tells a caching node where the directory is: its handle only to a node of its own process
// (a handle of a third process would make that node's messages cross this one), else the
// endpoint it publishes, to which the node connects itself.
void name_directory(router_self* self, const node_handles& to) {
  if (!to.cache) return;
  const auto dir = directory_now(self);
  const bool same_process = dir.handle && dir.handle.node() == to.cache.node();
  self->send(to.cache, atoms::republish_atom::value,
             same_process ? caf::actor_cast<caf::actor>(dir.handle) : caf::actor{}, dir.at);
}

// The roles that register (a router or a gateway never does; a peer may send any number).
sched::node_kind kind_of(cluster::node_role role) {
  using cluster::node_role;
  if (role == node_role::prefill || role == node_role::decode || role == node_role::cache_directory) return role;
  throw failure(errc::invalid_argument, std::string("a ") + cluster::to_string(role) + " node cannot register with the router");
}

// The leader's roster (router_options::roster) follows the registered nodes.
void update_roster(router_self* self) {
  auto& st = self->state;
  if (!st.options.roster) return;
  std::vector<std::string> names;
  names.reserve(st.handles.size());
  for (const auto& [name, h] : st.handles) names.push_back(name);
  st.options.roster->set(std::move(names));
}

}  // namespace

cache_directory_actor directory(router_self* self) { return directory_now(self).handle; }

std::unique_ptr<sched::control_plane> control_plane_for(const router_options& o) {
  const auto& config = o.policy;
  sched::control_plane_options cpo;
  cpo.core = {config.threshold_tokens, config.bandwidth_abundant, /*use_directory=*/true,
              config.pull_min_tokens, config.max_in_flight, 1024, config.max_attempts,
              config.queue_max, /*settle_until_s=*/config.settle_ms / 1000.0,
              /*settle_for=*/o.roster ? o.roster->names() : std::vector<std::string>{},
              config.reserve_with_prefill};
  if (!cpo.core.settle_for.empty())
    spdlog::info("router: routing once the {} nodes the previous router held are back (at most {} ms)",
                 cpo.core.settle_for.size(), config.settle_ms);
  if (config.controller) {
    cpo.prfaas_profile = o.prfaas_profile;
    cpo.pd_profile = o.pd_profile;
    cpo.output_tokens = config.output_tokens;
  }
  cpo.rebalancer = config.rebalancer;
  cpo.conversion_s = config.drain_ms / 1000.0;
  return std::make_unique<sched::control_plane>(std::move(cpo));
}

caf::result<caf::ok_atom> register_node(router_self* self, const node_info& info, const caf::actor& handle,
                                        const caf::actor& control, const registration_proof& proof) {
  auto& st = self->state;
  const std::string mine = st.options.model.fingerprint();
  try {
    const auto* c = st.cp->converting(info.name);
    check_registration(self, st.options.trust.get(), {info.name, cluster::to_string(info.role)}, handle, control,
                       proof, c && c->told && c->to == info.role);
    const auto& from = self->current_sender();
    // One process per name: while the node registered under it lives (its process has
    // not been found gone), another process may not take it; it may retry (unreachable
    // says so), and gets the name once the holder's down message arrived.
    if (auto held = st.handles.find(info.name); held != st.handles.end() && held->second.role.node() != from->node())
      throw failure(errc::unreachable, "the name " + info.name + " is held by a live node (actor-plane node " +
                                           caf::to_string(held->second.role.node()) + "); retry once it is gone");
    if (info.model != mine)
      throw failure(errc::model_mismatch, "node " + info.name + " runs model [" + info.model +
                                              "] but the router runs [" + mine + "]");
    kind_of(info.role);  // a role that registers, or a refusal
  } catch (const failure& f) {
    spdlog::error("router: refused node {}: {}", info.name, f.what());
    return to_error(f);
  }
  if (!st.options.trust) spdlog::warn("router: registered {} on its word (--insecure: no certificate checked)", info.name);
  else bind_node_identity(node_bytes(self->system(), self->current_sender()->node()), info.name);
  self->monitor(handle);
  // Its handles and endpoint before the core hears of it: node_up may route queued requests to
  // it at once (the last node a restarted router waited for), and their messages need them.
  st.names[handle.address()] = info.name;
  st.handles[info.name] = handles_for(info.role, handle, control);
  st.infos[info.name] = info;
  try {
    step(self, sched::node_up{{info.name, kind_of(info.role), info.prfaas, info.capacity}});
  } catch (const failure& f) {  // the node table is full (a new name: nothing of it was there)
    spdlog::error("router: refused node {}: {}", info.name, f.what());
    self->demonitor(handle);
    st.names.erase(handle.address());
    st.handles.erase(info.name);
    st.infos.erase(info.name);
    return to_error(f);
  }
  update_roster(self);
  spdlog::info("router: registered {} node {} (cluster {}, actor-plane node {})", cluster::to_string(info.role),
               info.name, info.cluster,
               caf::to_string(self->current_sender()->node()));
  // Nodes send their cache updates to the directory themselves: a new node learns where
  // it is, and a new directory, which knows nothing, hears every node's whole cache.
  if (info.role == cluster::node_role::cache_directory) {
    for (const auto& n : core_of(self).nodes())
      if (n.up && n.desc.kind != sched::node_kind::cache_directory) name_directory(self, handle_of(self, n.id));
    // The router keeps a copy of its index, which it sends whole and then as it changes.
    st.directory_copy = std::make_unique<kv::prefix_directory>(st.options.model.block_tokens);
    self->send(st.handles[info.name].directory, atoms::watch_atom::value);
  } else {
    name_directory(self, st.handles[info.name]);
  }
  return caf::ok_atom::value;
}

const node_handles& handle_of(router_self* self, sched::node_id id) {
  static const node_handles none;
  const auto& name = core_of(self).node(id).desc.name;
  auto it = self->state.handles.find(name);
  return it == self->state.handles.end() ? none : it->second;
}

// True when the message being handled comes from the process of node `name` as registered.
bool sent_by(router_self* self, const std::string& name) {
  const auto& from = self->current_sender();
  auto h = self->state.handles.find(name);
  return from && h != self->state.handles.end() && from->node() == h->second.role.node();
}

std::string node_of_sender(router_self* self) {
  const auto& from = self->current_sender();
  if (!from) return {};
  for (const auto& [name, h] : self->state.handles)
    if (h.role.node() == from->node()) return name;
  return {};
}

bool from_holder(router_self* self, uint64_t id, sched::node_kind role, const char* what) {
  if (!core_of(self).find(id)) return true;
  const auto name = holder(self, id, role);
  if (!name.empty() && sent_by(self, name)) return true;
  // A node that held an earlier attempt may still speak of it after a re-dispatch; any other
  // sender is a misbehaving peer.  Either way only the holder's word counts.
  const auto& from = self->current_sender();
  const std::string node = node_of_sender(self);
  const std::string who = !node.empty() ? "node " + node
                          : from        ? caf::to_string(from->node())
                                        : std::string("an anonymous sender");
  spdlog::warn("router: dropped a {} for request {} from {}, which does not hold it", what, id, who);
  return false;
}


void node_lost(router_self* self, const std::string& name, const std::string& why) {
  auto& st = self->state;
  const auto id = core_of(self).node_by_name(name);
  if (!id) return;
  const auto kind = core_of(self).node(*id).desc.kind;
  const std::string role = sched::to_string(kind);
  if (const auto* c = st.cp->converting(name); c && c->told)
    spdlog::info("router: {} node {} left its role to become a {} node", role, name, sched::to_string(c->to));
  else
    spdlog::warn("router: {} node {} lost ({})", role, name, why);
  step(self, sched::node_down{*id, role + " node " + name + " lost (" + why + ")"});
  st.handles.erase(name);
  update_roster(self);
  st.telemetry.forget(name);
  if (kind == sched::node_kind::cache_directory) {
    st.directory_copy.reset();  // no hits until a directory registers and sends its index
    return;
  }
  if (auto dir = directory(self)) self->send(dir, atoms::drop_atom::value, name);
  if (st.directory_copy) st.directory_copy->drop(name);
}


// The emulated inter-cluster link, through each PrfaaS prefill node's supervisor (its role
// may be busy for the length of the fault).
caf::result<int32_t> set_link(router_self* self, const std::string& action, double gbps) {
  auto& st = self->state;
  if (const auto why = operator_refusal(self, trusted(self), "changing the inter-cluster link"); !why.empty())
    return caf::make_error(errc::invalid_argument, why);
  if (action != "cut" && action != "restore" && action != "rate")
    return caf::make_error(errc::invalid_argument, "unknown link action '" + action + "' (cut, restore, rate)");
  if (action == "rate" && !(gbps > 0 && gbps <= 1e4))
    return caf::make_error(errc::invalid_argument, "a link rate must be in (0, 10000] Gbps");
  std::vector<node_control_actor> nodes;
  for (const auto& [name, info] : st.infos)
    if (info.prfaas && info.role == cluster::node_role::prefill)
      if (auto h = st.handles.find(name); h != st.handles.end() && h->second.control) nodes.push_back(h->second.control);
  for (auto& c : nodes)
    self->send(c, atoms::link_atom::value, action, gbps);  // the whole link: each node knows how it shares it
  spdlog::warn("router: link {} ({:.3f} Gbps) on {} PrfaaS prefill nodes", action, gbps, nodes.size());
  // What status, metrics, the egress log and the controller read from now: the rate set,
  // or, restored, the configured capacity again.
  if (action == "rate") st.telemetry.said(gbps);
  if (action == "restore") st.telemetry.restored();
  return static_cast<int32_t>(nodes.size());
}

// A drained node's supervisor turns its role into the other; it registers again in that role.
void act(router_self* self, const sched::convert_node& c) {
  if (const auto& ctl = handle_of(self, c.node).control)
    self->send(ctl, atoms::convert_atom::value, std::string(sched::to_string(c.to)));
}

void act(router_self* self, const sched::conversion_ended& c) {
  if (c.ok)  // its new role is the core's already (the registration stepping node_up ended it)
    spdlog::info("router: {} now serves as a {} node", c.node,
                 sched::to_string(core_of(self).node(*core_of(self).node_by_name(c.node)).desc.kind));
  else spdlog::warn("router: {}", c.why);
  auto rp = self->state.conversion_replies.find(c.node);
  if (rp == self->state.conversion_replies.end()) return;
  if (c.ok) rp->second.deliver(int32_t{0});
  else rp->second.deliver(caf::make_error(c.code, c.why));
  self->state.conversion_replies.erase(rp);
}

// Starts converting local node `name` to `to` (prefill | decode): drains it, then its supervisor
// is told (convert_node); `reply` hears when it serves again (conversion_ended).
caf::error begin_conversion(router_self* self, const std::string& name, const std::string& to,
                            std::optional<caf::response_promise> reply) {
  auto& st = self->state;
  sched::commands out;
  if (auto no = st.cp->convert(name, to, now_s(self), out)) return caf::make_error(no.code, no.why);
  spdlog::info("router: converting {} to a {} node: draining it first", name, to);
  if (reply) st.conversion_replies[name] = std::move(*reply);
  // Its time runs out on a tick (the control plane ends it then).
  self->delayed_send(self, std::chrono::milliseconds(st.options.policy.drain_ms + 10), atoms::deadline_atom::value);
  act_all(self, out);
  return {};
}

// The end of a rebalance period: the control plane's rule on the stages it integrated.
void rebalance(router_self* self) {
  auto& st = self->state;
  self->delayed_send(self, std::chrono::milliseconds(st.options.policy.rebalance_period_ms), atoms::rebalance_atom::value);
  sched::commands out;
  if (const auto period = st.cp->rebalance(now_s(self), out); !period.node.empty()) {
    spdlog::info("router: rebalancer: local prefill {:.0f} % busy, decode slots {:.0f} % decoding: {} becomes a {} node",
                 100 * period.inputs.pd_prefill_busy, 100 * period.inputs.decode_occupancy, period.node,
                 sched::to_string(period.to));
    self->delayed_send(self, std::chrono::milliseconds(st.options.policy.drain_ms + 10), atoms::deadline_atom::value);
  }
  act_all(self, out);
}

// One period of the live threshold controller: the PrfaaS egress the prefill nodes measured
// against the link's capacity now.
void control(router_self* self) {
  auto& st = self->state;
  if (!st.cp->controller_on()) return;
  self->delayed_send(self, std::chrono::milliseconds(st.options.policy.controller_period_ms), atoms::tick_atom::value);
  sched::commands out;
  const sched::link_view link{st.telemetry.egress_gbps(), st.telemetry.capacity_gbps()};
  if (const auto moved = st.cp->control(link, now_s(self), out))
    spdlog::info("router: threshold t {} -> {} tokens (PrfaaS egress {:.3f} of {:.3f} Gbps, {:.0f} % utilised; "
                 "{:.1f} requests per PrfaaS node)",
                 moved->before, static_cast<int>(moved->after), link.egress_gbps, link.capacity_gbps,
                 100 * moved->inputs.egress_utilisation, moved->inputs.prfaas_queue_per_instance);
  act_all(self, out);
}

// The router's families of /metrics: the control plane's (requests, nodes, t, conversions), then
// the link and the caches as the router last heard of them.
void write_metrics(router_self* self, metrics::exposition& page) {
  using metrics::kind;
  auto& st = self->state;
  st.cp->write_metrics(page, now_s(self));
  st.telemetry.write_metrics(page);
  const auto traffic = actor_plane_traffic();
  page.family("prfaas_actor_plane_messages_total", metrics::kind::counter,
              "Actor messages the router process read (in) and wrote (out) on its TLS connections.");
  page.sample({{"direction", "in"}}, static_cast<double>(traffic.messages_in));
  page.sample({{"direction", "out"}}, static_cast<double>(traffic.messages_out));
}

router_status status_of(router_self* self) {
  auto& st = self->state;
  router_status s;
  for (const auto kind : {sched::node_kind::cache_directory, sched::node_kind::prefill, sched::node_kind::decode})
    for (const auto& [name, info] : st.infos)
      if (auto id = core_of(self).node_by_name(name))
        if (core_of(self).node(*id).up && core_of(self).node(*id).desc.kind == kind) s.nodes.push_back(info);
  st.telemetry.fill(s);
  s.threshold_tokens = core_of(self).threshold_tokens();
  s.threshold_moves = st.cp->threshold_moves();
  s.conversions = st.cp->conversions();
  const auto [recent, offloaded] = st.cp->last_minute(now_s(self));
  s.recent_completed = recent;
  s.offload_share = s.recent_completed ? static_cast<double>(offloaded) / s.recent_completed : 0;
  s.completed = core_of(self).counters().completed;
  s.failed = core_of(self).counters().failed + core_of(self).counters().refused;
  s.in_flight = static_cast<int64_t>(core_of(self).requests().size());
  return s;
}

// Each node's cache statistics live in the cache directory (nodes send it their updates): status
// and metrics ask it first, and go on without them when it is missing or silent.
void with_cache_stats(router_self* self, std::function<void()> then) {
  const auto dir = directory(self);
  if (!dir) return then();
  self->request(dir, std::chrono::seconds(1), atoms::metrics_atom::value)
      .then(
          [=](const std::vector<cache_stats>& stats) {
            self->state.telemetry.caches(stats);
            then();
          },
          [=](caf::error&) { then(); });
}

}  // namespace prfaas::actors::router_parts

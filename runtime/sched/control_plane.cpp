#include "runtime/sched/control_plane.h"

#include "runtime/metrics/exposition.h"

namespace prfaas::sched {

namespace {
constexpr size_t kRecentMax = 100000;  // completions remembered for the offload share
}

control_plane::control_plane(control_plane_options options)
    : options_(std::move(options)), core_(options_.core), log_(options_.log_keep) {
  if (options_.prfaas_profile && options_.pd_profile)
    controller_ = std::make_unique<policy::threshold_controller>(*options_.prfaas_profile, *options_.pd_profile,
                                                                 options_.output_tokens,
                                                                 options_.core.threshold_tokens);
}

void control_plane::integrate(double now) {
  if (now <= last_s_) return;
  const auto& l = core_.levels();
  const double dt = now - last_s_;
  if (l.local_prefill > 0) busy_integral_ += dt * l.local_prefill_busy / l.local_prefill;
  if (l.decode_slots > 0) occupancy_integral_ += dt * l.decoding / l.decode_slots;
  last_s_ = now;
}

void control_plane::handle(const event& e, double now, commands& out) {
  integrate(now);
  std::string lost_role;
  if (const auto* down = std::get_if<node_down>(&e); down && down->node >= 0 &&
      down->node < static_cast<node_id>(core_.nodes().size()) && core_.node(down->node).up)
    lost_role = to_string(core_.node(down->node).desc.kind);
  const size_t first = out.size();
  core_.handle(e, now, out);
  // What the slow loops learn from the core's decisions.
  for (size_t i = first; i < out.size(); ++i) {
    if (const auto* p = std::get_if<prefill>(&out[i])) {
      if (controller_ && p->attempt == 0) controller_->observe(p->uncached_tokens);
    } else if (const auto* r = std::get_if<reply>(&out[i]); r && r->ok) {
      recent_.emplace_back(now, r->request.path == policy::prefill_path::prfaas);
      if (recent_.size() > kRecentMax) recent_.pop_front();
    }
  }
  if (const auto* up = std::get_if<node_up>(&e)) ++node_events_[{to_string(up->node.kind), "up"}];
  if (!lost_role.empty()) ++node_events_[{lost_role, "down"}];
  if (!converting_.empty()) conversions_step(e, now, out);
}

// A drained node is told; one back in its new role has converted; one out of time has failed.
void control_plane::conversions_step(const event& e, double now, commands& out) {
  if (const auto* up = std::get_if<node_up>(&e)) {
    auto c = converting_.find(up->node.name);
    if (c != converting_.end() && c->second.to == up->node.kind) {
      ++conversions_;
      converting_.erase(c);
      out.push_back(conversion_ended{up->node.name, true, errc::internal, {}});
    }
  }
  for (auto it = converting_.begin(); it != converting_.end();) {
    auto& c = it->second;
    const auto id = core_.node_by_name(it->first);
    if (!c.told && id && core_.node(*id).up && core_.node(*id).load == 0) {
      c.told = true;
      out.push_back(convert_node{*id, c.to});
    } else if (std::holds_alternative<tick>(e) && now > c.deadline_s) {
      out.push_back(conversion_ended{it->first, false, errc::deadline_exceeded,
                                     it->first + " did not " + (c.told ? "come back" : "drain") + " in time"});
      it = converting_.erase(it);
      continue;
    }
    ++it;
  }
}

std::optional<threshold_move> control_plane::control(const link_view& link, double now, commands& out) {
  if (!controller_) return std::nullopt;
  const auto& l = core_.levels();
  policy::controller_inputs in;
  in.link_gbps = link.capacity_gbps;
  in.egress_utilisation = link.capacity_gbps > 0 ? link.egress_gbps / link.capacity_gbps : 0;
  in.n_prfaas = l.prfaas_prefill;
  in.prfaas_queue_per_instance = l.prfaas_prefill ? static_cast<double>(l.prfaas_held) / l.prfaas_prefill : 0;
  in.n_p = l.accepting_prefill;
  in.n_d = l.accepting_decode;
  const int before = core_.threshold_tokens();
  const auto moved = controller_->on_period(in);
  if (moved) ++threshold_moves_;
  handle(policy_update{static_cast<int>(controller_->threshold()), controller_->bandwidth_abundant()}, now, out);
  if (!moved) return std::nullopt;
  return threshold_move{before, *moved, in};
}

rebalance_period control_plane::rebalance(double now, commands& out) {
  integrate(now);
  const double span = now - period_start_s_;
  rebalance_period period;
  auto& in = period.inputs;
  if (span > 0) {
    in.pd_prefill_busy = busy_integral_ / span;
    in.decode_occupancy = occupancy_integral_ / span;
  }
  busy_integral_ = occupancy_integral_ = 0;
  period_start_s_ = now;
  in.n_p = core_.levels().accepting_prefill;
  in.n_d = core_.levels().accepting_decode;
  if (!options_.rebalancer || !converting_.empty() || span <= 0) return period;
  const int move = policy::rebalance(in);
  const auto name = conversion_candidate(core_, move);
  if (!name) return period;
  period.to = move > 0 ? node_kind::prefill : node_kind::decode;
  if (!convert(*name, to_string(period.to), now, out)) period.node = *name;
  return period;
}

refusal control_plane::convert(const std::string& name, const std::string& to, double now, commands& out) {
  if (auto no = conversion_refusal(core_, name, to, converting_.count(name) > 0)) return no;
  converting_[name] = {to == "prefill" ? node_kind::prefill : node_kind::decode, now + options_.conversion_s, false};
  handle(node_drain{*core_.node_by_name(name)}, now, out);  // told at once when it holds nothing
  return {};
}

const conversion* control_plane::converting(const std::string& name) const {
  auto it = converting_.find(name);
  return it == converting_.end() ? nullptr : &it->second;
}

double control_plane::threshold() const {
  return controller_ ? controller_->threshold() : core_.threshold_tokens();
}

std::pair<int, int> control_plane::last_minute(double now) const {
  int completed = 0, offloaded = 0;
  for (auto it = recent_.rbegin(); it != recent_.rend() && it->first >= now - 60; ++it) {
    ++completed;
    offloaded += it->second;
  }
  return {completed, offloaded};
}

void control_plane::write_metrics(metrics::exposition& page, double now) const {
  using metrics::kind;
  log_.write(page);
  page.family("prfaas_requests_in_flight", kind::gauge, "Requests the router holds now.");
  page.sample({}, static_cast<double>(core_.requests().size()));
  page.family("prfaas_router_queued_requests", kind::gauge, "Requests waiting in the router's admission queue for room.");
  page.sample({}, static_cast<double>(core_.queued()));
  page.family("prfaas_node_up", kind::gauge, "1 for each registered node that is up, by node, role and cluster.");
  for (const auto& n : core_.nodes())
    if (n.up)
      page.sample({{"node", n.desc.name}, {"role", to_string(n.desc.kind)}, {"cluster", n.desc.prfaas ? "prfaas" : "local"}}, 1);
  page.family("prfaas_node_events_total", kind::counter, "Nodes registering (up) and lost (down), by role.");
  for (const auto& [key, n] : node_events_) page.sample({{"role", key.first}, {"event", key.second}}, static_cast<double>(n));
  page.family("prfaas_prefill_queue_requests", kind::gauge,
              "Requests each prefill node holds (computing or waiting in its queue), by node.");
  for (const auto& n : core_.nodes())
    if (n.up && n.desc.kind == node_kind::prefill) page.sample({{"node", n.desc.name}}, n.load);
  page.family("prfaas_decode_sequences", kind::gauge, "Sequences each decode node holds (reserved or decoding), by node.");
  for (const auto& n : core_.nodes())
    if (n.up && n.desc.kind == node_kind::decode) page.sample({{"node", n.desc.name}}, n.load);
  page.family("prfaas_decode_occupancy_ratio", kind::gauge, "Held sequences over each decode node's capacity.");
  for (const auto& n : core_.nodes())
    if (n.up && n.desc.kind == node_kind::decode && n.desc.capacity > 0)
      page.sample({{"node", n.desc.name}}, static_cast<double>(n.load) / n.desc.capacity);
  page.family("prfaas_threshold_tokens", kind::gauge, "The length threshold t: longer uncached prompts prefill on the PrfaaS cluster.");
  page.sample({}, core_.threshold_tokens());
  page.family("prfaas_threshold_moves_total", kind::counter, "Moves of t by the live threshold controller.");
  page.sample({}, threshold_moves_);
  page.family("prfaas_conversions_total", kind::counter, "Local nodes that changed role between prefill and decode.");
  page.sample({}, conversions_);
  const auto [recent, offloaded] = last_minute(now);
  page.family("prfaas_offload_ratio", kind::gauge, "Share of the requests completed in the last minute that prefilled on the PrfaaS cluster.");
  page.sample({}, recent ? static_cast<double>(offloaded) / recent : 0);
}

}  // namespace prfaas::sched

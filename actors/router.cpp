// Router role: an adapter around the control-plane core (runtime/sched/core.h), which owns every
// request's state machine, the node table and the routing decision.  This actor only turns CAF
// messages into the core's events and the core's commands into CAF messages:
//
//   message in                          event                 command            message out
//   generate_request, a door's round -> request_arrived       lookup_cache    -> (the router's copy of the
//                                                                                directory's index, matched here)
//                                    -> cache_answer          reserve         -> decode_job to a decode node
//                                                                                (a round's to each node together)
//                                                             (+ prefill, when the directory says the decode node
//                                                              holds none of the prompt: both at once)
//   decode_news: reserved            -> reserved              prefill         -> prefill_job to a prefill node
//                                                                                (a round's to each node together)
//   prefill_news: reports, failures  -> prefill_done,         abort_request   -> abort_atom to a node
//                                       request_failed
//   decode_news: started, results    -> first_token,          reply           -> the client's response (a
//                                                                                door's: its round's answers together)
//                                       decode_done (each item on its own)
//   decode_news: failed, a refused job -> request_failed
//   cache_pulled                     -> cache_pulled          pull_cache      -> cache_pull to the prefill node,
//                                                                                then cache_push to the holder
//   register_atom / down_msg         -> node_up / node_down
//   held_report (a new leader)       -> request_adopted (a lost router's requests, as far as they got)
//   prefill_news: holding            -> prefill_held (the prefill node of a request taken over)
//   staging_report                   -> node_staging (a full prefill node gets no new work)
//   directory_news                   -> (the router's copy of the directory's index: what nodes
//                                       cache, as the directory last said)
//   the deadline timer               -> tick (one timer, armed for the earliest deadline)
//
// Who may say what: a node registers only under the name and role its certificate's key signed
// (runtime/security/pki.h); afterwards a message about a request counts only when it comes from
// the node the core says holds that part of it, and a message about a node only from that node.
// Anything else is dropped with a warning: a peer that proved membership of the deployment
// still cannot finish, fail or report for somebody else.
//
// Beside the core it keeps what the core has no use for: response promises, prompts, output
// tokens, actor handles, link telemetry.  Nodes send their cache updates to the directory
// themselves: the router names it to each node that registers, and a directory that
// (re)registers to every caching node, which re-publishes its whole cache to it; a lost node is
// dropped from it.  Status and metrics ask the directory for the nodes' cache statistics.
//
// This file is the behaviour: each handler is a call.  What the calls do is in the router's
// parts (actors/router_parts.hpp): a request's way in router_requests.cpp, the nodes, the slow
// loops, the link, status and metrics in router_nodes.cpp.

#include <caf/all.hpp>
#include <caf/io/middleman.hpp>
#include <caf/io/network/multiplexer.hpp>
#include <spdlog/spdlog.h>

#include <chrono>
#include <limits>

#include "actors/actor_plane.hpp"
#include "actors/router_parts.hpp"
#include "actors/sender_trust.hpp"
#include "runtime/profile/instance_profile.h"

namespace prfaas::actors {
namespace router_parts {
namespace {

// One timer for every request's deadline, not one each: armed for the earliest deadline in
// flight whenever that is sooner than the one armed (a timer per request cost the router a
// clock entry and a message each).
void arm_deadline(router_self* self) {
  auto& st = self->state;
  const auto next = core_of(self).next_deadline();
  if (!next || *next >= st.timer_at) return;
  st.timer_at = *next;
  const auto in = std::chrono::microseconds(static_cast<int64_t>(std::max(0.0, *next - now_s(self)) * 1e6) + 1000);
  self->delayed_send(self, in, atoms::deadline_atom::value);
}

}  // namespace

void act_all(router_self* self, const sched::commands& out) {
  for (const auto& c : out) std::visit([&](const auto& x) { act(self, x); }, c);
}

void step(router_self* self, const sched::event& e) {
  sched::commands out;
  auto& st = self->state;
  st.cp->handle(e, now_s(self), out);
  act_all(self, out);
  arm_deadline(self);
  if (!st.held_back.empty()) release_held_back(self);
}

}  // namespace router_parts

namespace {

using namespace router_parts;

router_actor::behavior_type router(router_self* self, router_options options) {
  self->state.options = std::move(options);
  const auto& o = self->state.options;
  const auto& config = o.policy;
  self->state.telemetry = node_telemetry(o.link_gbps);
  self->state.cp = control_plane_for(o);
  if (self->state.cp->controller_on()) {
    spdlog::info("router: live threshold controller on, every {} ms, from t = {} tokens", config.controller_period_ms,
                 config.threshold_tokens);
    self->delayed_send(self, std::chrono::milliseconds(config.controller_period_ms), atoms::tick_atom::value);
  } else if (config.controller) {
    spdlog::error("router: live threshold controller off: no instance profiles to plan with");
  }
  // The settling period ends with a tick, which routes whatever waited for it.
  self->delayed_send(self, std::chrono::milliseconds(config.settle_ms), atoms::deadline_atom::value);
  if (config.rebalancer) {
    spdlog::info("router: live P/D rebalancer on, every {} ms", config.rebalance_period_ms);
    self->delayed_send(self, std::chrono::milliseconds(config.rebalance_period_ms), atoms::rebalance_atom::value);
  }
  ignore_stray_errors(self);
  self->set_down_handler([=](caf::down_msg& msg) {
    auto it = self->state.names.find(msg.source);
    if (it == self->state.names.end()) {
      // A requester: what nobody else waits for ends unless a retry joins it within the grace.
      for (uint64_t id : self->state.requesters.gone(msg.source))
        self->delayed_send(self, kOrphanGrace, atoms::orphan_atom::value, id);
      return;
    }
    const std::string name = it->second;
    self->state.names.erase(it);
    // A restarted node re-registers under its name with a new handle: ignore its old one.
    auto h = self->state.handles.find(name);
    if (h != self->state.handles.end() && h->second.role.address() == msg.source)
      node_lost(self, name, caf::to_string(msg.reason));
  });
  return {
      [=](atoms::register_atom, const node_info& info, const caf::actor& handle, const caf::actor& control,
          const registration_proof& proof) -> caf::result<caf::ok_atom> {
        return register_node(self, info, handle, control, proof);
      },
      // The emulated inter-cluster link (the operator's: cut, restore, rate).
      [=](atoms::link_atom, const std::string& action, double gbps) -> caf::result<int32_t> {
        return set_link(self, action, gbps);
      },
      [=](generate_request& req) -> caf::result<generate_result> {
        const auto from = requester_of_message(self);  // before the promise takes the sender
        auto rp = self->make_response_promise();
        accept_request(self, req, from, reply_to{rp, {}, 0});
        return rp;
      },
      [=](std::vector<submission>& round) { accept_submissions(self, round); },
      [=](atoms::orphan_atom, std::vector<uint64_t>& tickets) { door_callers_gone(self, tickets); },
      [=](atoms::deadline_atom) {
        self->state.timer_at = std::numeric_limits<double>::infinity();  // this one, or another, fired
        step(self, sched::tick{});
      },
      [=](atoms::orphan_atom, uint64_t id) {
        auto& st = self->state;
        if (self->current_sender() != self->ctrl() || st.requesters.waited_for(id)) return;
        const auto* view = core_of(self).find(id);
        if (!view) return;
        spdlog::info("router: request {}: everyone waiting for it went away (a client or a gateway lost); cancelled", id);
        step(self, sched::request_failed{id, errc::cancelled, "everyone waiting for it went away", view->attempt});
      },
      [=](atoms::tick_atom) { control(self); },
      // P/D rebalancing by hand (`prfaas node convert`): a local node changes role in place.
      [=](atoms::convert_atom, const std::string& name, const std::string& to) -> caf::result<int32_t> {
        if (const auto why = operator_refusal(self, trusted(self), "converting a node"); !why.empty())
          return caf::make_error(errc::invalid_argument, why);
        // Once a promise exists it answers the request: a refusal goes through it too.
        auto rp = self->make_response_promise();
        if (auto err = begin_conversion(self, name, to, rp)) rp.deliver(std::move(err));
        return rp;
      },
      [=](atoms::rebalance_atom) { rebalance(self); },
      [=](atoms::flush_atom) {
        say_dispatched(self);
        send_decode_jobs(self);
        send_prefill_jobs(self);
        send_door_answers(self);
      },
      // A node leaving (SIGTERM) gets no new work; it asks until it holds nothing.
      [=](atoms::drain_atom, const std::string& name) -> int32_t {
        const auto id = core_of(self).node_by_name(name);
        if (!id || !core_of(self).node(*id).up) return 0;
        if (!sent_by(self, name)) {
          spdlog::warn("router: dropped a drain of {} sent by another process", name);
          return core_of(self).node(*id).load;
        }
        if (core_of(self).node(*id).accepting) {
          spdlog::info("router: {} is draining", name);
          step(self, sched::node_drain{*id});
        }
        return core_of(self).node(*id).load;
      },
      // A prefill node's KV staging filled up (no new work for it) or has room again.
      [=](const staging_report& m) {
        if (!sent_by(self, m.node)) return;
        const auto id = core_of(self).node_by_name(m.node);
        if (!id) return;
        spdlog::info("router: {}'s KV staging {} ({} of {} MiB, {} sequences crossing)", m.node,
                     m.full ? "is full: it gets no new work" : "has room again", m.used_bytes >> 20,
                     m.capacity_bytes >> 20, m.staged);
        step(self, sched::node_staging{*id, m.full});
      },
      [=](const link_report& m) {
        auto& st = self->state;
        if (!sent_by(self, m.node)) return;
        st.telemetry.link(m, clock_type::now());
      },
      [=](const cache_pulled& m) {
        if (!from_holder(self, m.request, sched::node_kind::prefill, "pulled prefix")) return;
        step(self, sched::cache_pulled{m.request, m.tokens, m.attempt});
      },
      // The cache directory's changes, for the router's copy of its index.
      [=](directory_news& news) { directory_news_at(self, news); },
      // A prefill node's news, every item checked on its own: reports, failures, jobs held.
      [=](prefill_news& news) {
        if (news.reports.size() > kMaxResultsPerMessage || news.failed.size() > kMaxResultsPerMessage ||
            news.holding.size() > kMaxResultsPerMessage)
          return;  // more than any node holds
        for (const auto& m : news.reports) prefill_reported_at(self, m);
        for (const auto& m : news.failed) prefill_failed_at(self, m);
        for (const auto& m : news.holding) prefill_held_at(self, m);
      },
      // A decode node's news, every item checked on its own: reservations, starts, tokens, results
      // (a request's come in that order), then what it refused or gave up.
      [=](decode_news& news) {
        if (news.reserved.size() > kMaxResultsPerMessage || news.started.size() > kMaxResultsPerMessage ||
            news.chunks.size() > kMaxResultsPerMessage ||
            news.results.size() > kMaxResultsPerMessage || news.failed.size() > kMaxResultsPerMessage)
          return;  // more than any node holds
        for (const auto& m : news.reserved) reserved_at(self, m);
        for (const auto& m : news.started) decode_started_at(self, m);
        for (auto& m : news.chunks) tokens_from_decode(self, m);
        for (auto& m : news.results) decode_result_at(self, m);
        for (const auto& m : news.failed) decode_failed_at(self, m);
      },
      // A decode node's requests of the lost router: taken over, as far as they got.
      [=](held_report& m) -> std::vector<uint64_t> { return take_over(self, m); },
      // The client went away: its request ends here, and the nodes holding it drop it.
      [=](atoms::cancel_atom, const std::string& client_id) {
        auto& st = self->state;
        const auto known = st.clients.in_flight(client_id);
        const auto* view = known ? core_of(self).find(*known) : nullptr;
        if (!view) return;
        if (const auto* owner = st.clients.owner(client_id);
            owner && !may_touch(self, trusted(self), *owner, "cancelling request " + std::to_string(*known)))
          return;
        spdlog::info("router: request {}: the client went away; cancelled", *known);
        step(self, sched::request_failed{*known, errc::cancelled, "the client went away", view->attempt});
      },
      [=](atoms::trace_atom, uint64_t id) -> caf::result<sched::timeline> {
        // Another certificate's request is as unknown as one that never was.
        const auto* owner = self->state.clients.owner_of(id);
        if (const auto* t = log_of(self).find(id); t && (!owner || may_touch(self, trusted(self), *owner, "tracing request " + std::to_string(id))))
          return *t;
        return caf::make_error(errc::unknown_request, "the router holds no request " + std::to_string(id) +
                                                          " (it keeps the last 1024 that ended)");
      },
      [=](atoms::metrics_atom) -> caf::result<std::string> {
        auto rp = self->make_response_promise<std::string>();
        with_cache_stats(self, [=]() mutable {
          metrics::exposition page;
          write_metrics(self, page);
          rp.deliver(page.str());
        });
        return rp;
      },
      [=](atoms::status_atom) -> caf::result<router_status> {
        auto rp = self->make_response_promise<router_status>();
        with_cache_stats(self, [=]() mutable { rp.deliver(status_of(self)); });
        return rp;
      },
  };
}


}  // namespace

router_options router_options_for(const config::deployment_config& config, std::shared_ptr<const security::verifier> trust) {
  router_options o;
  o.policy = config.router;
  o.model = config.model;
  o.prfaas_cluster = config.deployment.prfaas_cluster;
  o.local_cluster = config.deployment.local_cluster;
  o.link_gbps = config.transport.link_gbps;
  o.trust = std::move(trust);
  if (config.router.controller) {
    try {
      // An emulated deployment runs its profiles scaled: the router plans with what it meets.
      const auto& e = config.engine;
      auto load = [&](const std::string& given, const std::string& engines) {
        if (!given.empty() || !e.emulated()) return profile::load_profile(given);
        return profile::scaled(profile::load_profile(engines), e.time_scale, e.effective_kv_scale);
      };
      o.prfaas_profile = std::make_shared<const profile::instance_profile>(load(config.router.profile_prfaas, e.profile_prfaas));
      o.pd_profile = std::make_shared<const profile::instance_profile>(load(config.router.profile_pd, e.profile));
    } catch (const failure& f) {
      spdlog::error("router: live threshold controller off: {}", f.what());
    }
  }
  return o;
}

namespace {

// The router runs in the middleman's I/O thread, as CAF's brokers do: a message read from a
// node or a door is handled where it was read, and what the router sends is written there,
// instead of each message crossing to a scheduler thread and each answer back through the
// I/O thread's wake-up pipe (two thread hand-offs a message, the most of the router's CPU per
// request on a loaded host).  Its handlers never block, so the connections are never held up:
// slow work (the directory, the nodes) is a message away.  Timers and local senders reach it
// through the same thread, so it still runs in one place at a time.
class router_on_io_thread final : public router_self {
 public:
  router_on_io_thread(caf::actor_config& cfg, router_options options) : router_self(cfg), options_(std::move(options)) {}

  behavior_type make_behavior() override { return router(this, std::move(options_)); }
  void launch(caf::execution_unit*, bool lazy, bool hide) override { router_self::launch(&io_thread(), lazy, hide); }
  void enqueue(caf::mailbox_element_ptr what, caf::execution_unit*) override {
    router_self::enqueue(std::move(what), &io_thread());
  }
  // The I/O thread resumes only what says it is one of its own; the scheduler never sees it.
  subtype_t subtype() const override { return io_actor; }

 private:
  caf::execution_unit& io_thread() { return home_system().middleman().backend(); }

  router_options options_;
};

}  // namespace

router_actor spawn_router(caf::actor_system& sys, router_options options) {
  return sys.spawn<router_on_io_thread>(std::move(options));
}

router_actor spawn_router(caf::actor_system& sys, const config::deployment_config& config,
                          std::shared_ptr<const security::verifier> trust) {
  return spawn_router(sys, router_options_for(config, std::move(trust)));
}

}  // namespace prfaas::actors

// Node supervisor: one per process.  Spawns the role actor, restarts it when it fails, registers
// it with the router.  Losing the router is no reason to stop: the role keeps
// what it holds, and the supervisor reconnects with backoff and registers again (the router,
// restarted, rebuilds its view from these registrations and the caches published after them).
// It sends nothing while running: liveness is the middleman's heartbeat and the router's monitor
// (a periodic message of its own kept a resting deployment's router awake for nothing).
//
//   [start] --spawn role, ask its node_info--> [registering] --ok--> [running]
//      ^          (no answer, or name still held: again after backoff) ^ |  | |
//      ^                                        ^    | refused                |
//      +--- role actor down (abnormal) ---------|----+---> fatal              |
//                                               |                             |
//                                   [reconnecting] <-------- router down -----+
//                                   (backoff 100 ms .. 1 s; the role gets the new router handle)

#include <caf/all.hpp>
#include <caf/io/all.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <deque>

#include "actors/messages.hpp"
#include "actors/actor_plane.hpp"
#include "actors/roles.hpp"

namespace prfaas::actors {
namespace {

// Restart intensity: more than kMaxRestarts restarts within kRestartWindow and the node gives
// up (the process exits, and whoever supervises processes decides).
constexpr int kMaxRestarts = 5;
constexpr auto kRestartWindow = std::chrono::seconds(60);
constexpr auto kFirstBackoff = std::chrono::milliseconds(100);
constexpr auto kMaxBackoff = std::chrono::milliseconds(1000);
constexpr auto kLeaderBackoff = std::chrono::milliseconds(100);  // reconnecting while etcd elects

struct supervisor_state {
  supervisor_options options;
  caf::actor role;
  router_actor router;            // the current router (changes when it restarts)
  endpoint router_endpoint;       // where it was reached (empty: not known)
  node_info info;
  bool registered = false;
  std::chrono::milliseconds backoff = kFirstBackoff;
  std::deque<std::chrono::steady_clock::time_point> restarts;  // within the window
  bool fatal_sent = false;
  static inline const char* name = "supervisor";
};

using supervisor_actor = node_control_actor::stateful_base<supervisor_state>;

void fatal(supervisor_actor* self, const std::string& why) {
  if (self->state.fatal_sent) return;
  self->state.fatal_sent = true;
  spdlog::error("{}", why);
  self->state.options.fatal(why);
}

// Registers again after `backoff` (doubling up to the bound): the registration failed in a way a
// later one may not (a stalled router's timeout, a name still held by the process this one
// replaces).
void register_later(supervisor_actor* self) {
  auto& st = self->state;
  self->delayed_send(self, st.backoff, atoms::register_atom::value);
  st.backoff = std::min(kMaxBackoff, st.backoff * 2);
}

void send_registration(supervisor_actor* self, const node_info& info) {
  // The router may have been lost while the role was answering: the reconnection registers.
  if (!self->state.router) return;
  auto role = self->state.role;
  // The supervisor registers itself beside the role as the node's control handle: it is never
  // busy, so cancellations reach work the role is in the middle of.
  caf::actor control = caf::actor_cast<caf::actor>(self->address());
  registration_proof proof;
  if (self->state.options.prove)
    proof = self->state.options.prove({info.name, cluster::to_string(info.role)}, caf::to_string(self->home_system().node()),
                                      caf::to_string(self->state.router.node()));
  self->request(self->state.router, std::chrono::seconds(5), atoms::register_atom::value, info, role, control, proof)
      .then(
          [=](caf::ok_atom) {
            self->state.registered = true;
            self->state.backoff = kFirstBackoff;
            spdlog::info("{}: registered with the router", info.name);
            // The router itself names its cache directory to the role (republish_atom).
          },
          [=](caf::error& err) {
            // A refusal is final, but for a name still held (retried until its holder is gone).
            // A router gone again is reconnected to (its down message); one that did not
            // answer in time (stalled) is asked again.
            const bool prfaas = err.category() == caf::atom("prfaas");
            if (prfaas && static_cast<errc>(err.code()) != errc::unreachable) {
              fatal(self, info.name + ": the router refused registration: " + describe(err));
              return;
            }
            if (prfaas) spdlog::warn("{}: {}; registering again", info.name, describe(err));
            else spdlog::warn("{}: registration not answered ({}); registering again", info.name, describe(err));
            register_later(self);
          });
}

void register_role(supervisor_actor* self, bool ask_role) {
  auto& st = self->state;
  if (!st.router || !st.role) return;
  // A re-registration reuses what the role said: a role busy computing answers late.
  if (!ask_role && !st.info.name.empty()) {
    send_registration(self, st.info);
    return;
  }
  self->request(st.role, std::chrono::seconds(5), atoms::status_atom::value)
      .then(
          [=](node_info info) {
            self->state.info = info;
            send_registration(self, info);
          },
          [=](caf::error& err) { fatal(self, "role actor did not start: " + describe(err)); });
}

void start_role(supervisor_actor* self) {
  auto& st = self->state;
  st.role = st.options.spawn_role(caf::actor_cast<caf::actor>(st.router));
  self->monitor(st.role);
  if (st.options.on_spawned) st.options.on_spawned(st.role);
  register_role(self, /*ask_role=*/true);
}

void reconnect(supervisor_actor* self) {
  auto& st = self->state;
  auto mm = middleman_handle(self->home_system());
  endpoint at;
  try {
    at = st.options.router_at.current();  // with standby routers: the leader etcd names now
  } catch (const failure& f) {
    spdlog::warn("{}: {}; looking again", st.info.name, f.what());
    self->delayed_send(self, st.backoff, atoms::reconnect_atom::value);
    st.backoff = std::min(kMaxBackoff, st.backoff * 2);
    return;
  }
  self->request(mm, std::chrono::seconds(2), caf::connect_atom::value, at.host, at.port)
      .then(
          [=](const caf::node_id&, caf::strong_actor_ptr& ptr, const std::set<std::string>&) {
            auto& st = self->state;
            st.router = caf::actor_cast<router_actor>(ptr);
            if (!st.router) {
              self->delayed_send(self, st.backoff, atoms::reconnect_atom::value);
              return;
            }
            spdlog::info("{}: reached the router at {} again", st.info.name, at.str());
            st.router_endpoint = at;
            self->monitor(st.router);
            // Ahead of whatever waits in the role's mailbox (high priority).
            if (st.role)
              self->send<caf::message_priority::high>(caf::actor_cast<role_actor>(st.role), atoms::router_atom::value,
                                                      caf::actor_cast<caf::actor>(st.router));
            register_role(self, /*ask_role=*/false);
          },
          [=](caf::error&) {
            auto& st = self->state;
            self->delayed_send(self, st.backoff, atoms::reconnect_atom::value);
            // With standby routers a new leader is due within a lease: look often for it.
            const auto most = st.options.router_at.follows_etcd() ? kLeaderBackoff : kMaxBackoff;
            st.backoff = std::min(most, st.backoff * 2);
          });
}

// The router is gone (down), or etcd names another leader: the role stops taking work from it
// at once (jobs it sent that still wait in the role's mailbox are refused, not computed for
// nobody), and the supervisor reconnects after `after`.
void router_lost(supervisor_actor* self, std::chrono::milliseconds after) {
  auto& st = self->state;
  if (st.router) self->demonitor(st.router.address());
  st.router = nullptr;
  st.router_endpoint = {};
  st.registered = false;
  if (st.role)
    self->send<caf::message_priority::high>(caf::actor_cast<role_actor>(st.role), atoms::router_atom::value, caf::actor{});
  const auto& at = st.options.router_at;
  if (!at.follows_etcd() && at.current().port == 0) {
    fatal(self, st.info.name + ": lost the router and has no address to reconnect to");
    return;
  }
  self->delayed_send(self, after, atoms::reconnect_atom::value);
}

constexpr auto kLeaderLook = std::chrono::milliseconds(250);  // standby routers: how often
// How often the locator's thread asks etcd: a reconnection reads its last look, so this bounds
// how stale the leader it dials may be while etcd elects.
constexpr auto kLeaderWatch = std::chrono::milliseconds(50);

node_control_actor::behavior_type supervisor(supervisor_actor* self, supervisor_options options) {
  ignore_stray_errors(self);
  self->state.options = std::move(options);
  self->state.router = caf::actor_cast<router_actor>(self->state.options.router);
  self->set_down_handler([=](caf::down_msg& msg) {
    auto& st = self->state;
    if (st.router && msg.source == st.router.address()) {
      spdlog::warn("{}: lost the router ({}); serving what it holds and reconnecting", st.info.name,
                   caf::to_string(msg.reason));
      router_lost(self, st.backoff);
      return;
    }
    if (msg.source != st.role.address()) return;
    if (msg.reason == caf::exit_reason::user_shutdown || !msg.reason) return;
    const auto now = std::chrono::steady_clock::now();
    while (!st.restarts.empty() && now - st.restarts.front() > kRestartWindow) st.restarts.pop_front();
    st.restarts.push_back(now);
    if (static_cast<int>(st.restarts.size()) > kMaxRestarts) {
      fatal(self, "role actor failed " + std::to_string(st.restarts.size()) + " times within " +
                      std::to_string(kRestartWindow.count()) + " s; last: " + caf::to_string(msg.reason));
      return;
    }
    spdlog::warn("role actor failed ({}); restarting ({} of {} within {} s)", caf::to_string(msg.reason),
                 st.restarts.size(), kMaxRestarts, kRestartWindow.count());
    st.registered = false;
    start_role(self);
  });
  self->set_exit_handler([=](caf::exit_msg& msg) {
    if (self->state.role) self->send_exit(self->state.role, msg.reason);
    self->quit(msg.reason);
  });
  if (self->state.router) self->monitor(self->state.router);
  start_role(self);
  if (self->state.options.router_at.follows_etcd()) {
    self->state.options.router_at.watch(kLeaderWatch);  // etcd is asked off the actor's thread
    self->send(self, atoms::tick_atom::value);
  }
  return {
      [=](atoms::reconnect_atom) { reconnect(self); },
      // Standby routers: a leader that etcd no longer names (it was stopped or cut off, and its
      // lease lapsed) is left for the one it names now, even while its connection still holds.
      [=](atoms::tick_atom) {
        auto& st = self->state;
        self->delayed_send(self, kLeaderLook, atoms::tick_atom::value);
        const auto leader = st.options.router_at.last_look();  // the locator's own thread asked etcd
        if (!leader || !st.router) return;  // etcd silent (nobody new is elected) or reconnecting
        if (st.router_endpoint.host.empty()) st.router_endpoint = *leader;  // the first router, reached at start
        if (*leader == st.router_endpoint) return;
        spdlog::warn("{}: etcd names {} the leading router now; leaving {}", st.info.name, leader->str(),
                     st.router_endpoint.str());
        router_lost(self, std::chrono::milliseconds(0));
      },
      [=](atoms::register_atom) {
        if (!self->state.registered) register_role(self, /*ask_role=*/false);
      },
      [=](atoms::convert_atom, const std::string& to_text) {
        auto& st = self->state;
        cluster::node_role to = st.info.role;
        try {
          to = cluster::parse_role(to_text);
        } catch (const failure&) {
        }
        if (!st.options.spawn_as || (to != cluster::node_role::prefill && to != cluster::node_role::decode) ||
            to == st.info.role) {
          spdlog::warn("{}: cannot become a {} node", st.info.name, to_text);
          return;
        }
        spdlog::info("{}: converting from {} to {}", st.info.name, cluster::to_string(st.info.role), cluster::to_string(to));
        // The router drained the node: the old role holds nothing.  It goes; the new one takes
        // its place on the same published port, and restarts from now on are of the new role.
        self->demonitor(st.role);
        self->send_exit(st.role, caf::exit_reason::user_shutdown);
        auto spawn_as = st.options.spawn_as;
        st.options.spawn_role = [spawn_as, to](caf::actor router) { return spawn_as(to, router); };
        st.registered = false;
        st.info = {};
        start_role(self);
      },
      [=](atoms::abort_atom, uint64_t id, int32_t attempt) {
        if (self->state.options.cancels) self->state.options.cancels->cancel(id, attempt);
      },
      [=](atoms::link_atom, const std::string& action, double gbps) {
        auto& o = self->state.options;
        if (!o.egress) return;
        if (action == "cut") o.egress->set_cut(true);
        if (action == "restore") {
          o.egress->set_gbps(o.egress_gbps);
          o.egress->set_cut(false);
        }
        if (action == "rate") o.egress->set_gbps(gbps / std::max(1, o.egress_sharers));
        spdlog::warn("{}: emulated link {} (now {:.3f} Gbps{})", self->state.info.name, action, o.egress->gbps(),
                     o.egress->is_cut() ? ", cut" : "");
      },
  };
}

}  // namespace

caf::actor spawn_supervisor(caf::actor_system& sys, supervisor_options options) {
  return caf::actor_cast<caf::actor>(sys.spawn(supervisor, std::move(options)));
}

}  // namespace prfaas::actors

// Node supervisor: one per process.  Spawns the role actor, restarts it when it fails, registers
// it with the router, and heartbeats.
//
//   [start] --spawn role, ask its node_info--> [registering] --ok--> [running] --tick--> heartbeat
//      ^                                            | error                |
//      +------- role actor down (abnormal) ---------+---> fatal            +--router down--> fatal

#include <caf/all.hpp>
#include <spdlog/spdlog.h>

#include "actors/messages.hpp"
#include "actors/roles.hpp"

namespace prfaas::actors {
namespace {

constexpr int kMaxRestarts = 5;  // within one process lifetime; beyond that the node gives up

struct supervisor_state {
  supervisor_options options;
  caf::actor role;
  node_info info;
  int restarts = 0;
  bool fatal_sent = false;
  static inline const char* name = "supervisor";
};

using supervisor_actor = caf::stateful_actor<supervisor_state>;

void fatal(supervisor_actor* self, const std::string& why) {
  if (self->state.fatal_sent) return;
  self->state.fatal_sent = true;
  spdlog::error("{}", why);
  self->state.options.fatal(why);
}

void start_role(supervisor_actor* self) {
  auto& st = self->state;
  st.role = st.options.spawn_role();
  self->monitor(st.role);
  if (st.options.on_spawned) st.options.on_spawned(st.role);
  if (!st.options.router) return;  // the router's own process registers nothing
  auto role = st.role;
  self->request(role, std::chrono::seconds(5), atoms::status_atom::value)
      .then(
          [=](node_info info) {
            self->state.info = info;
            self->request(self->state.options.router, std::chrono::seconds(5), atoms::register_atom::value,
                          info, role)
                .then([=](caf::ok_atom) { spdlog::info("{}: registered with the router", info.name); },
                      [=](caf::error& err) {
                        fatal(self, info.name + ": the router refused registration: " + describe(err));
                      });
          },
          [=](caf::error& err) { fatal(self, "role actor did not start: " + describe(err)); });
}

caf::behavior supervisor(supervisor_actor* self, supervisor_options options) {
  self->state.options = std::move(options);
  self->set_down_handler([=](caf::down_msg& msg) {
    auto& st = self->state;
    if (st.options.router && msg.source == st.options.router.address()) {
      fatal(self, st.info.name + ": lost the router (" + caf::to_string(msg.reason) + ")");
      return;
    }
    if (msg.source != st.role.address()) return;
    if (msg.reason == caf::exit_reason::user_shutdown || !msg.reason) return;
    if (++st.restarts > kMaxRestarts) {
      fatal(self, "role actor failed " + std::to_string(kMaxRestarts) + " times; last: " + caf::to_string(msg.reason));
      return;
    }
    spdlog::warn("role actor failed ({}); restarting ({} of {})", caf::to_string(msg.reason), st.restarts, kMaxRestarts);
    start_role(self);
  });
  self->set_exit_handler([=](caf::exit_msg& msg) {
    if (self->state.role) self->send_exit(self->state.role, msg.reason);
    self->quit(msg.reason);
  });
  if (self->state.options.router) self->monitor(self->state.options.router);
  start_role(self);
  if (self->state.options.router) self->send(self, atoms::tick_atom::value);
  return {
      [=](atoms::tick_atom) {
        auto& st = self->state;
        if (!st.info.name.empty()) self->send(st.options.router, atoms::heartbeat_atom::value, st.info.name, int32_t{0});
        self->delayed_send(self, std::chrono::milliseconds(st.options.heartbeat_ms), atoms::tick_atom::value);
      },
  };
}

}  // namespace

caf::actor spawn_supervisor(caf::actor_system& sys, supervisor_options options) {
  return sys.spawn(supervisor, std::move(options));
}

}  // namespace prfaas::actors

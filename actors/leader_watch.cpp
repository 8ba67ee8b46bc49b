#include "actors/leader_watch.hpp"

#include <caf/all.hpp>
#include <caf/io/all.hpp>
#include <spdlog/spdlog.h>

#include <mutex>

#include "actors/actor_plane.hpp"
#include "runtime/common/errc.h"
#include "runtime/control/port_probe.h"

namespace prfaas::actors {

struct leader_watch::sight {
  std::mutex mutex;
  std::string holder;    // the watch's target
  int64_t revision = 0;
  uint64_t generation = 0;  // one per target: answers about an earlier one are dropped
  bool gone = false;
};

namespace {

constexpr auto kConnectTimeout = std::chrono::seconds(2);
constexpr auto kRetry = std::chrono::milliseconds(200);
constexpr auto kProbeTimeout = std::chrono::milliseconds(200);

struct watch_state {
  std::shared_ptr<leader_watch::sight> sight;
  uint64_t generation = 0;
  endpoint at;
  caf::actor leader;
  bool reached = false;  // connected at least once since this target was set
  static inline const char* name = "leader_watch";
};

using watch_self = caf::stateful_actor<watch_state>;

void reach(watch_self* self);

// The connection broke or cannot be made again: gone for certain only when the port refuses.
void look(watch_self* self) {
  auto& st = self->state;
  st.leader = nullptr;
  if (st.reached && control::probe_port(st.at, kProbeTimeout) == control::port_answer::refused) {
    std::lock_guard lock(st.sight->mutex);
    if (st.sight->generation == st.generation) st.sight->gone = true;
    spdlog::info("leader watch: the router at {} is gone (its connection broke, its port refuses connections)",
                 st.at.str());
    return;
  }
  self->delayed_send(self, kRetry, caf::tick_atom::value, st.generation);
}

void reach(watch_self* self) {
  const uint64_t generation = self->state.generation;
  self->request(middleman_handle(self->system()), kConnectTimeout, caf::connect_atom::value, self->state.at.host,
                self->state.at.port)
      .then(
          [=](const caf::node_id&, caf::strong_actor_ptr& ptr, const std::set<std::string>&) {
            auto& st = self->state;
            if (generation != st.generation) return;
            if (!ptr) return look(self);
            st.leader = caf::actor_cast<caf::actor>(ptr);
            st.reached = true;
            self->monitor(st.leader);
          },
          [=](caf::error&) {
            if (generation == self->state.generation) look(self);
          });
}

caf::behavior watcher(watch_self* self, std::shared_ptr<leader_watch::sight> sight) {
  self->state.sight = std::move(sight);
  ignore_stray_errors(self);
  self->set_down_handler([=](caf::down_msg& m) {
    auto& st = self->state;
    if (st.leader && m.source == st.leader.address()) look(self);
  });
  return {
      [=](caf::update_atom, uint64_t generation, const std::string& holder) {
        auto& st = self->state;
        if (st.leader) self->demonitor(st.leader);
        st = watch_state{st.sight, generation, {}, nullptr, false};
        try {
          st.at = parse_endpoint(holder);
        } catch (const failure&) {
          return;  // not an address: never reached, never gone
        }
        reach(self);
      },
      [=](caf::tick_atom, uint64_t generation) {
        if (generation == self->state.generation && !self->state.leader) reach(self);
      },
  };
}

}  // namespace

leader_watch::leader_watch(caf::actor_system& sys) : sight_(std::make_shared<sight>()) {
  // Detached: a look at the port blocks for up to kProbeTimeout.
  watcher_ = std::make_unique<caf::actor>(sys.spawn<caf::detached>(watcher, sight_));
}

leader_watch::~leader_watch() { caf::anon_send_exit(*watcher_, caf::exit_reason::user_shutdown); }

bool leader_watch::gone(const std::string& holder, int64_t revision) {
  std::lock_guard lock(sight_->mutex);
  if (holder == sight_->holder && revision == sight_->revision) return sight_->gone;
  sight_->holder = holder;
  sight_->revision = revision;
  sight_->gone = false;
  caf::anon_send(*watcher_, caf::update_atom::value, ++sight_->generation, holder);
  return false;
}

}  // namespace prfaas::actors

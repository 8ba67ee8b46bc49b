#pragma once
// How a caching node (prefill or decode) reaches the cache directory the router names
// (republish_atom): its handle when it lives in this process, else a connection of its own to
// the directory's published endpoint.  Cache updates go straight there, never through the
// router (which forwards nothing: a message routed through another node is refused at the
// actor plane's door, actors/basp_door.cpp).
//
//   reach_directory(self, local, "10.0.0.5:7011", [=](cache_directory_actor d) { ... });
//
// `then` gets the handle, or a null one when none is named or it cannot be reached (the router
// names it again when it registers again).

#include <caf/all.hpp>
#include <caf/io/all.hpp>
#include <spdlog/spdlog.h>

#include <functional>
#include <set>
#include <string>

#include "actors/actor_plane.hpp"
#include "actors/interfaces.hpp"
#include "runtime/common/endpoint.h"
#include "runtime/common/errc.h"

namespace prfaas::actors {

template <class Self>
void reach_directory(Self* self, const caf::actor& local, const std::string& at,
                     std::function<void(cache_directory_actor)> then) {
  if (local && local.node() == self->home_system().node()) return then(caf::actor_cast<cache_directory_actor>(local));
  if (at.empty()) return then({});
  endpoint e;
  try {
    e = parse_endpoint(at);
  } catch (const failure& f) {
    spdlog::warn("{}: the cache directory's endpoint {}: {}", self->name(), at, f.what());
    return then({});
  }
  self->request(middleman_handle(self->home_system()), std::chrono::seconds(3), caf::connect_atom::value, e.host, e.port)
      .then([=](const caf::node_id&, caf::strong_actor_ptr& ptr,
                const std::set<std::string>&) { then(caf::actor_cast<cache_directory_actor>(ptr)); },
            [=](caf::error& err) {
              spdlog::warn("{}: cannot reach the cache directory at {} ({}): no cache updates until it registers again",
                           self->name(), at, describe(err));
              then({});
            });
}

// The directory a caching role publishes to, and how often the router named one: the answer
// of a slower connection to an earlier naming is stale.
struct directory_link {
  cache_directory_actor handle;
  uint64_t generation = 0;
};

// The router named a directory (republish_atom; from anyone but `router`: nothing): reach it,
// then `then()` once `link.handle` holds it (null: none), unless it was named again meanwhile.
// `link` lives in the actor's state, as long as the callbacks that use it.
template <class Self, class Router>
void follow_directory(Self* self, const Router& router, directory_link& link, const caf::actor& local,
                      const std::string& at, std::function<void()> then) {
  if (!router || self->current_sender() != router.address()) return;
  const uint64_t generation = ++link.generation;
  reach_directory(self, local, at, [&link, generation, then = std::move(then)](cache_directory_actor d) {
    if (generation != link.generation) return;
    link.handle = std::move(d);
    then();
  });
}

}  // namespace prfaas::actors

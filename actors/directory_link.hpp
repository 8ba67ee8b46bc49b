#pragma once
// How a caching node (prefill or decode) reaches the cache directory the router names
// (republish_atom): its handle when it lives in this process, else a connection of its own to
// the directory's published endpoint.  Cache updates go straight there, never through the
// router (which forwards nothing: a message routed through another node is refused at the
// actor plane's door, actors/basp_door.cpp).
//
//   reach_directory(self, local, "10.0.0.5:7011", [=](cache_directory_actor d) { ... });
//
// `then` gets the handle, or a null one and whether trying again later may help (an endpoint
// that did not answer: yes; none named, or one that does not parse: no).

#include <caf/all.hpp>
#include <caf/io/all.hpp>
#include <spdlog/spdlog.h>

#include <chrono>
#include <functional>
#include <set>
#include <string>

#include "actors/actor_plane.hpp"
#include "actors/interfaces.hpp"
#include "runtime/common/endpoint.h"
#include "runtime/common/errc.h"

namespace prfaas::actors {

// A directory that did not answer (a loaded machine, a directory still starting) is tried again
// this often while it stays the one named: a node that gave up would publish nothing, and every
// lookup would miss its cache, until a directory registered again.
constexpr std::chrono::milliseconds kDirectoryRetry{1000};

template <class Self>
void reach_directory(Self* self, const caf::actor& local, const std::string& at,
                     std::function<void(cache_directory_actor, bool)> then) {
  if (local && local.node() == self->home_system().node())
    return then(caf::actor_cast<cache_directory_actor>(local), false);
  if (at.empty()) return then({}, false);
  endpoint e;
  try {
    e = parse_endpoint(at);
  } catch (const failure& f) {
    spdlog::warn("{}: the cache directory's endpoint {}: {}", self->name(), at, f.what());
    return then({}, false);
  }
  self->request(middleman_handle(self->home_system()), std::chrono::seconds(3), caf::connect_atom::value, e.host, e.port)
      .then([=](const caf::node_id&, caf::strong_actor_ptr& ptr,
                const std::set<std::string>&) { then(caf::actor_cast<cache_directory_actor>(ptr), false); },
            [=](caf::error& err) {
              spdlog::warn("{}: cannot reach the cache directory at {} ({}): trying again in {} ms", self->name(), at,
                           describe(err), kDirectoryRetry.count());
              then({}, true);
            });
}

// The directory a caching role publishes to, and how often the router named one: the answer
// of a slower connection to an earlier naming is stale.
struct directory_link {
  cache_directory_actor handle;
  uint64_t generation = 0;
  std::string at;  // the endpoint named last: a retry of another one is stale
};

// The router named a directory (republish_atom; from anyone but `router` or the actor itself:
// nothing): reach it, then `then()` once `link.handle` holds it (null: none), unless it was named
// again meanwhile.  One that did not answer is named again by the actor itself after
// kDirectoryRetry, for as long as it is the one named and not reached.  `link` lives in the
// actor's state, as long as the callbacks that use it.
template <class Self, class Router>
void follow_directory(Self* self, const Router& router, directory_link& link, const caf::actor& local,
                      const std::string& at, std::function<void()> then) {
  const bool retry = self->current_sender() == self->ctrl();
  if (retry) {
    if (link.handle || at != link.at) return;  // reached meanwhile, or another one named since
  } else if (!router || self->current_sender() != router.address()) {
    return;
  }
  link.at = at;
  const uint64_t generation = ++link.generation;
  reach_directory(self, local, at,
                  [self, &link, generation, local, at, then = std::move(then)](cache_directory_actor d, bool again) {
                    if (generation != link.generation) return;
                    link.handle = std::move(d);
                    if (!link.handle && again)
                      self->delayed_send(self, kDirectoryRetry, atoms::republish_atom::value, local, at);
                    then();
                  });
}

}  // namespace prfaas::actors

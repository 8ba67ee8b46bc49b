#pragma once
// Client side of the control plane, for the CLI and tests: reach a router, send one request,
// read its status.  Blocking calls (scoped actors); never used inside a role actor.

#include <caf/fwd.hpp>

#include <caf/actor.hpp>
#include <caf/actor_addr.hpp>

#include <chrono>
#include <functional>
#include <mutex>
#include <string>

#include "actors/messages.hpp"
#include "runtime/common/endpoint.h"
#include "runtime/control/router_locator.h"

namespace prfaas::actors {

// Where a client finds the router: an address, or the leader etcd names (standby routers).
using control::router_locator;

// Connects to the router's published actor, retrying `attempts` times `delay` apart (each time
// asking where it is: a new leader is found).  The error (errc::unreachable) names the address
// and the attempts.
caf::expected<caf::actor> connect_router(caf::actor_system& sys, const router_locator& router, int attempts = 10,
                                         std::chrono::milliseconds delay = std::chrono::milliseconds(300));

// Sends one request and waits for its result, at most `timeout` (errc::deadline_exceeded).
caf::expected<generate_result> generate(caf::actor_system& sys, const caf::actor& router,
                                        const generate_request& request, std::chrono::milliseconds timeout);

// A process's door to whichever router it reaches (client_door.hpp), shared by its threads: a
// round of their requests goes in one message.  Opened on first use, and again for a new
// router (a restarted one, or a new leader); the old door closed with its router.
class door_keeper {
 public:
  caf::actor door_for(caf::actor_system& sys, const caf::actor& router);
  // A request through `door` failed other than by timing out (its router went, or the door
  // did): the next request opens a new one, even to the same router.
  void forget(const caf::actor& door);

 private:
  std::mutex mutex_;
  caf::actor_addr router_;  // the router the door below goes to
  caf::actor door_;
};

// Sends one request and keeps at it until it completes, fails for a reason of its own, or
// `budget` has passed: every second without an answer it sends the request again under the same
// client id (a router still holding it lets the retry join it), and a router that went away is
// reconnected to at `router_at` (a restarted router runs the request again: greedy output does
// not depend on where).  Never waits past the budget.  The request's own deadline_ms (0: the
// router's default) counts from the first send: a retry carries what is left of it.  With
// `doors`, each send goes through the process's door to the router reached.
caf::expected<generate_result> generate_retrying(caf::actor_system& sys, const router_locator& router_at,
                                                 generate_request request, std::chrono::milliseconds budget,
                                                 door_keeper* doors = nullptr);

// Sends one request whose tokens come as they are produced: `on_tokens(tokens)` gets each new
// stretch of the output in order (the first token as soon as the prefill is done).  Returning
// false from it means the consumer went away: the router is told to cancel the request, which
// frees its prefill and decode slots, and errc::cancelled is returned.  The result carries the
// whole output, as generate()'s.  One router, no retries; at most `timeout`.
caf::expected<generate_result> generate_streaming(caf::actor_system& sys, const caf::actor& router,
                                                  generate_request request,
                                                  const std::function<bool(const std::vector<int32_t>&)>& on_tokens,
                                                  std::chrono::milliseconds timeout);

// Tells the router that the client of request `client_id` went away: the request ends cancelled
// (only the certificate that submitted it may; the router ignores anyone else).
void cancel(caf::actor_system& sys, const router_locator& router_at, const std::string& client_id);

caf::expected<router_status> status(caf::actor_system& sys, const caf::actor& router,
                                    std::chrono::milliseconds timeout = std::chrono::seconds(5));
// The router's metrics page (Prometheus text) and one request's timeline (request_log.h).
caf::expected<std::string> router_metrics(caf::actor_system& sys, const caf::actor& router,
                                          std::chrono::milliseconds timeout = std::chrono::seconds(5));
caf::expected<sched::timeline> trace(caf::actor_system& sys, const caf::actor& router, uint64_t request,
                                     std::chrono::milliseconds timeout = std::chrono::seconds(5));

// Acts on the emulated PrfaaS -> local link of every PrfaaS prefill node: "cut" (nothing
// leaves, no connection gets through), "restore" (its configured rate, uncut), "rate" (`gbps`
// in all, shared evenly).  Returns how many nodes were told.
caf::expected<int32_t> link_control(caf::actor_system& sys, const caf::actor& router, const std::string& action,
                                    double gbps);
// Asks the router to convert local node `name` to `role` (prefill | decode); returns once it
// serves in that role, or the router's error (it drains the node first, up to router.drain_ms).
caf::expected<int32_t> convert_node(caf::actor_system& sys, const caf::actor& router, const std::string& name,
                                    const std::string& role, std::chrono::milliseconds timeout);

}  // namespace prfaas::actors

#pragma once
// The roles' protocols as typed actor interfaces: what each role actor answers, checked by the
// compiler where a handle of this type is used (messages.hpp describes each message).  The last
// entries of each are its own: events its transport threads hand over and the steps it sends
// itself.
//
//   prfaas::actors::prefill_actor p = spawn_prefill(sys, options, router);
//   self->send(p, std::vector<prefill_job>{job});   // answered in the node's prefill_news
//
// Every handle a message is sent through is of these types: the router casts a registered
// node's handles to its role's interface (the certificate proved the role) and its supervisor's
// to node_control_actor; the roles and supervisors hold the router as router_actor.  The
// registration itself carries untyped handles (the role varies), cast once on arrival.

#include <caf/all.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "actors/messages.hpp"

namespace prfaas::actors {

// Who keeps a copy of the cache directory's index (the router): the directory's news.
using directory_watcher_actor = caf::typed_actor<caf::reacts_to<directory_news>>;

// Cache directory (roles.hpp: spawn_cache_directory).
using cache_directory_actor = caf::typed_actor<
    caf::replies_to<atoms::status_atom>::with<node_info>,
    caf::reacts_to<cache_update>,                               // from the node whose cache it is
    caf::reacts_to<atoms::drop_atom, std::string>,              // a node was lost
    caf::reacts_to<atoms::watch_atom>,                          // a router: its view, then directory_news
    caf::reacts_to<atoms::flush_atom>,                          // its own: the news gathered goes
    caf::replies_to<atoms::metrics_atom>::with<std::vector<cache_stats>>,  // each node's latest
    caf::reacts_to<atoms::router_atom, caf::actor>>;            // the router restarted (nothing to do)

// Prefill node (roles.hpp: spawn_prefill).
using prefill_actor = caf::typed_actor<
    caf::replies_to<atoms::status_atom>::with<node_info>,
    // a round's jobs from the router: prefill, stream the KV; each answered in prefill_news
    caf::reacts_to<std::vector<prefill_job>>,
    caf::replies_to<cache_pull>::with<caf::ok_atom>,            // arm the receiver for a prefix
    caf::replies_to<cache_push>::with<int32_t>,                 // send a cached prefix: tokens sent
    caf::reacts_to<atoms::router_atom, caf::actor>,             // the router restarted
    // from the router: publish the whole cache to this directory, and every change from now on
    // (on registration, and when a directory registers): its handle if it lives in the node's
    // process, its published HOST:PORT ("" : none) (directory_link.hpp)
    caf::reacts_to<atoms::republish_atom, caf::actor, std::string>,
    caf::reacts_to<atoms::abort_atom, uint64_t, int32_t>,       // request, attempt
    // its own: KV receiver events, batch steps, looks at its KV staging, the news gap's end
    caf::reacts_to<kv_event>,
    caf::reacts_to<atoms::step_atom>,
    caf::reacts_to<atoms::tick_atom>,
    caf::reacts_to<atoms::flush_atom>>;

// Decode node (roles.hpp: spawn_decode).
using decode_actor = caf::typed_actor<
    caf::replies_to<atoms::status_atom>::with<node_info>,
    // a round's jobs from the router: each answered in decode_news (reserved: the prompt tokens
    // it holds, its receiver armed; or failed)
    caf::reacts_to<std::vector<decode_job>>,
    caf::replies_to<cache_push>::with<int32_t>,
    caf::reacts_to<atoms::router_atom, caf::actor>,
    caf::reacts_to<atoms::republish_atom, caf::actor, std::string>,
    caf::reacts_to<atoms::abort_atom, uint64_t, int32_t>,
    // its own: KV receiver events, decode steps, its news to the router gathered (outbox.hpp)
    caf::reacts_to<kv_event>,
    caf::reacts_to<atoms::step_atom>,
    caf::reacts_to<atoms::flush_atom>>;


// Views of the role actors above by what they share, for handles that may be either role (a
// node converts between prefill and decode at run time): what every role answers (its
// supervisor's view), and what the roles holding a prefix cache answer (prefill and decode).
using role_actor = caf::typed_actor<
    caf::replies_to<atoms::status_atom>::with<node_info>,
    caf::reacts_to<atoms::router_atom, caf::actor>>;
using cache_holder_actor = caf::typed_actor<
    caf::replies_to<cache_push>::with<int32_t>,
    caf::reacts_to<atoms::republish_atom, caf::actor, std::string>,
    caf::reacts_to<atoms::abort_atom, uint64_t, int32_t>>;

// Where a request's tokens go as they come: a client's stream (client.hpp).
using token_stream_actor = caf::typed_actor<caf::reacts_to<token_chunk>>;

// A node's supervisor (roles.hpp: spawn_supervisor): never busy, so what the router orders it
// reaches a role in the middle of work; and its own timers.
using node_control_actor = caf::typed_actor<
    caf::reacts_to<atoms::abort_atom, uint64_t, int32_t>,      // mark the request cancelled at once
    caf::reacts_to<atoms::convert_atom, std::string>,          // drained: become a ROLE node
    caf::reacts_to<atoms::link_atom, std::string, double>,     // the emulated link: cut, restore, rate
    caf::reacts_to<atoms::reconnect_atom>,
    caf::reacts_to<atoms::register_atom>,
    caf::reacts_to<atoms::tick_atom>>;                          // standby routers: is the leader still the one?

// Router (roles.hpp: spawn_router): the control-plane core's adapter.
using router_actor = caf::typed_actor<
    // from nodes (through their supervisors) and from the nodes' roles
    caf::replies_to<atoms::register_atom, node_info, caf::actor, caf::actor, registration_proof>::with<caf::ok_atom>,
    caf::replies_to<atoms::drain_atom, std::string>::with<int32_t>,  // requests the node still holds
    caf::reacts_to<link_report>,
    caf::reacts_to<staging_report>,
    caf::reacts_to<cache_pulled>,
    caf::reacts_to<prefill_news>,  // a prefill node's reports and failures, gathered
    caf::reacts_to<decode_news>,  // a decode node's starts, tokens, results and failures, gathered
    caf::reacts_to<directory_news>,  // the cache directory's changes: the router's copy of its index
    caf::replies_to<held_report>::with<std::vector<uint64_t>>,  // a decode node's requests of the last router: taken over
    // from clients (the CLI, the gateway, apps)
    caf::replies_to<generate_request>::with<generate_result>,
    caf::reacts_to<std::vector<submission>>,  // a client process's door: a round's requests, answered by ticket
    caf::reacts_to<atoms::orphan_atom, std::vector<uint64_t>>,  // a door's tickets whose callers stopped waiting
    caf::reacts_to<atoms::cancel_atom, std::string>,                  // client id
    caf::replies_to<atoms::status_atom>::with<router_status>,
    caf::replies_to<atoms::metrics_atom>::with<std::string>,          // Prometheus text
    caf::replies_to<atoms::trace_atom, uint64_t>::with<sched::timeline>,
    caf::replies_to<atoms::link_atom, std::string, double>::with<int32_t>,  // PrfaaS nodes told
    caf::replies_to<atoms::convert_atom, std::string, std::string>::with<int32_t>,
    // its own: the scheduler's deadline, the controller's and rebalancer's periods, conversions
    caf::reacts_to<atoms::deadline_atom>,
    caf::reacts_to<atoms::tick_atom>,
    caf::reacts_to<atoms::rebalance_atom>,
    caf::reacts_to<atoms::orphan_atom, uint64_t>,   // a request whose requesters all went: still so?
    caf::reacts_to<atoms::flush_atom>>;             // the decode jobs and door answers gathered this round go (outbox.hpp)

// A client process's door to one router (client_door.hpp): its callers ask it as they would
// the router; it sends their requests of one round of its mailbox together.
using client_door_actor = caf::typed_actor<
    caf::replies_to<generate_request>::with<generate_result>,  // from the process's callers
    caf::reacts_to<std::vector<door_answer>>,                   // the router's answers, a round's
    caf::reacts_to<atoms::flush_atom>,                          // its own: the round's requests go,
    caf::reacts_to<atoms::tick_atom>>;                          // and its idle check

}  // namespace prfaas::actors

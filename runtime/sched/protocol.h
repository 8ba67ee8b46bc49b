#pragma once
// What goes into the control-plane core and what comes out of it (DESIGN.md, the control-plane
// core).  Events are facts a driver observed (a message arrived, time passed); commands are what
// the core wants done.  The live router turns CAF messages into events and commands into
// messages; the simulator turns them into its own queues and timers.  Both drive core.h.
//
// All values are small and copyable.  Times are seconds on the driver's clock (steady_clock for
// the router, simulated time for the simulator): the core has no clock of its own.

#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include "runtime/cluster/node_role.h"
#include "runtime/common/errc.h"
#include "runtime/policy/route.h"

namespace prfaas::sched {

using request_id = uint64_t;
using node_id = int32_t;        // dense, assigned by the core at a node's first registration
inline constexpr node_id kNoNode = -1;

// A registered node's role: the deployment's one role enum (a router or a gateway never
// registers, so the core meets prefill, decode and cache_directory only).
using node_kind = cluster::node_role;
using cluster::to_string;

// Where the prefix a prefill starts from lives.  `own`: the prefill node's own cache; the
// others are named for the results (`peer`: another node of the same cluster, `remote`: the
// other cluster) and are what cache moves will produce.
enum class cache_source : uint8_t { none, own, peer, remote };
const char* to_string(cache_source source);

// Attempts: a request that loses a node it depends on (node down, a broken transfer, a node that
// cannot be reached) is dispatched again from routing, on other nodes, up to max_attempts and
// within its deadline; greedy output does not depend on where it runs.  Every command carries
// the attempt and every event about a request echoes it, so a late answer from an abandoned
// attempt is stale, never mistaken for the current one.
//
// A request's phase: a field any test can read (core::find).
//
//   routing --> [queued] --> reserving --> [pulling] --> prefilling --> transferring --> decoding --> done
//      |           |             |             |             |               |               |
//      +-----------+-------------+-------------+-------------+---------------+---------------+----> failed
//
// routing: waiting for the cache directory's answer; queued: no prefill node takes work or no
// decode node has room (or none is registered yet), so it waits (FIFO, bounded) for room;
// reserving: the decode node is reserving
// the sequence; pulling: a cached prefix held by another node moves to the prefill node over
// the data plane (only when that node's hit beats the prefill node's own by pull_min_tokens);
// prefilling: the prefill node computes and streams; transferring: the prefill
// node has written the last byte, the decode node has not started; decoding: first token out.
// A request whose decode finished before its prefill node reported stays in `decoding` until
// the report: it is done when both nodes have let go of it.
enum class phase : uint8_t { routing, queued, reserving, pulling, prefilling, transferring, decoding, done, failed };
const char* to_string(phase p);

struct node_desc {
  std::string name;                 // unique; a node that restarts comes back under its name
  node_kind kind = node_kind::prefill;
  bool prfaas = false;              // in the PrfaaS cluster (else the local PD cluster)
  int capacity = 0;                 // decode: sequences held at once
  // decode: sequences decoded at once, what occupancy is a share of (0: capacity).  A simulated
  // instance holds more than it decodes (the rest wait for a slot); a live node decodes all it holds.
  int slots = 0;
};

// The cache directory's answer for one prompt: the longest usable hit in each cluster and on
// each node that has one; and the prompt's blocks each node holds from its start, snapshot or
// not (a decode node holding them need not receive them).
struct cache_hits {
  int local = 0;
  int prfaas = 0;
  std::vector<std::pair<node_id, int>> nodes;
  std::vector<std::pair<node_id, int>> held;
};

// One request as the core sees it (core::find); a reply carries its last state.
struct request_view {
  request_id id = 0;
  phase ph = phase::routing;
  int prompt_tokens = 0, max_tokens = 0;
  double accepted_s = 0, deadline_s = 0, first_token_s = 0;
  policy::prefill_path path = policy::prefill_path::local;
  node_id prefill_node = kNoNode, decode_node = kNoNode;
  node_id pull_from = kNoNode;      // the node whose cached prefix is moved to the prefill node
  int pull_tokens = 0;              // that prefix (0: none); the tokens that arrived after the pull
  bool holds_prefill = false;       // counted in the prefill node's load
  bool holds_decode = false;        // counted in the decode node's load
  bool decode_finished = false;     // decode_done seen, waiting for prefill_done
  bool decode_started = false;      // first token seen, not finished: counted in its node's `decoding`
  int uncached_tokens = 0;          // as routed
  int cached_tokens = 0;            // as reported by the prefill node (the routed hint before)
  int computed_tokens = 0;
  // The prompt's start the decode node already held in its cache (whole blocks): that KV is
  // not sent (the reservation's answer).
  int decode_held_tokens = 0;
  bool reservation_pending = false; // the reservation went beside the prefill job, not answered yet
  cache_source source = cache_source::none;
  int64_t kv_bytes = 0;
  int64_t kv_held_bytes = 0;        // KV the decode node held already (not sent)
  int attempt = 0;                  // 0 for the first dispatch
};

// ---------------------------------------------------------------------------------------------
// Events

struct node_up { node_desc node; };
struct node_down { node_id node = kNoNode; std::string why; };
struct node_drain { node_id node = kNoNode; };   // stop giving it work; it finishes what it holds
// A prefill node's KV staging area (transport/kv_staging.h) is full: no new work for it until it
// says it has room again (backpressure from a slow link, not a failure).
struct node_staging { node_id node = kNoNode; bool full = false; };

struct request_arrived {
  request_id id = 0;
  int prompt_tokens = 0;
  int max_tokens = 0;
  double deadline_s = 0;            // absolute; 0: none
};
struct cache_answer { request_id id = 0; cache_hits hits; };
// The decode node reserved the sequence; it holds the prompt's first `held_tokens` (whole blocks,
// from its prefix cache), which the prefill node then does not send.
struct reserved { request_id id = 0; int attempt = 0; int held_tokens = 0; };
// The prefill node let go of the request: every KV byte is written.  What it really reused.
struct prefill_done { request_id id = 0; int cached_tokens = 0; int computed_tokens = 0; int attempt = 0; };
// kv_bytes: what landed; kv_held_bytes: what the decode node already held and was not sent.
struct first_token { request_id id = 0; int64_t kv_bytes = 0; int attempt = 0; int64_t kv_held_bytes = 0; };
// The pulled prefix is in the prefill node's cache (`tokens`), or the pull failed (0): either way
// the prefill goes ahead, computing what is not cached.
struct cache_pulled { request_id id = 0; int tokens = 0; int attempt = 0; };
struct decode_done { request_id id = 0; int attempt = 0; };
// A node gave up on the request.  node_lost, unreachable, transport_failed and no_capacity (a
// node out of room) are worth another attempt; anything else ends the request (a bad_frame from
// the data plane, an engine's own error on the decode node: its code reaches the client).
struct request_failed { request_id id = 0; errc code = errc::internal; std::string why; int attempt = 0; };
struct tick {};                     // ends requests past their deadline
// The short-timescale loop moved: t and whether bandwidth counts as abundant.
struct policy_update { int threshold_tokens = 0; bool bandwidth_abundant = false; };
// A decode node holds a request that a previous router dispatched (a new leader hears it from
// the node's report): the core takes it in on that node, as far as it got: `started`, its first
// token came (decoding); else its KV is still arriving (transferring), and its prefill is the
// node's that says it holds it (prefill_held); without that word within
// core_options::prefill_word_wait_s it runs again from routing.  Ignored (a stale
// event) for an id the core holds, past max_in_flight, or on a node that is not an up decode node.
struct request_adopted {
  request_id id = 0;
  int attempt = 0;
  node_id decode = kNoNode;
  int prompt_tokens = 0, max_tokens = 0;
  double deadline_s = 0;            // absolute; 0: none
  bool started = false;
  policy::prefill_path path = policy::prefill_path::local;
  // The prefill node the lost router sent its prefill job to, as the decode node was told: only
  // that node's word counts (two nodes agree, so a prefill node cannot claim another's request).
  // Empty: the decode node was not told, and any prefill node's word counts.
  std::string prefill_node;
};

// A prefill node told a new router it holds the prefill of a request the last one dispatched
// (queued, or its KV crossing): for a request adopted while its KV is still arriving, the
// prefill is that node's (its report ends it, its loss re-dispatches the request).  One for a
// request not adopted yet waits for the decode node's report (core_options::prefill_word_wait_s).
// Ignored (a stale event) for another attempt, a request past its transfer or whose prefill node
// is known, a node that is not an up prefill node, or one the decode node did not name
// (request_adopted::prefill_node).
struct prefill_held { request_id id = 0; int attempt = 0; node_id node = kNoNode; };

// A decode node told a new router what it holds of the last one's requests (maybe nothing): a
// router settling for the previous one's nodes counts a decode node back only then, so no
// client's retry is routed before the requests it would duplicate are taken over.
struct node_reported { node_id node = kNoNode; };

using event = std::variant<node_up, node_down, node_drain, node_staging, request_arrived, cache_answer, reserved,
                           prefill_done, first_token, decode_done, request_failed, tick, policy_update,
                           cache_pulled, request_adopted, prefill_held, node_reported>;

// ---------------------------------------------------------------------------------------------
// Commands

struct lookup_cache { request_id id = 0; };                  // ask the directory, answer with cache_answer
// Answer: reserved or request_failed.  `whole_kv`: the prefill job went out beside it and sends
// the whole KV (the directory knew nothing of the prompt on that decode node), so the decode node
// takes nothing from its cache and its answer changes nothing but that it has room.
struct reserve { request_id id = 0; node_id decode = kNoNode; int attempt = 0; bool whole_kv = false; };
struct prefill {
  request_id id = 0;
  node_id node = kNoNode;
  node_id decode = kNoNode;
  policy::prefill_path path = policy::prefill_path::local;
  int uncached_tokens = 0;          // what routing expects to be computed
  int cached_tokens = 0;            // the hit the node is expected to start from (its own cache)
  int attempt = 0;
  int decode_held_tokens = 0;       // the decode node holds these already: not sent
};
struct abort_request { request_id id = 0; node_id node = kNoNode; int attempt = 0; };  // the node drops it
// Move the first `tokens` of the request's prompt from `from`'s prefix cache into `to`'s, over
// the data plane (same frames, same transport).  Answer: cache_pulled.
struct pull_cache { request_id id = 0; node_id from = kNoNode; node_id to = kNoNode; int tokens = 0; int attempt = 0; };
// The request ended: completed (code unset) or failed with a named cause.  Exactly once each.
struct reply {
  request_id id = 0;
  bool ok = true;
  errc code = errc::internal;
  std::string why;
  request_view request;             // its state when it ended (nodes, path, cache, timings)
};

// From the control plane's conversions (control_plane.h), never the core: tell local node `node`,
// drained, to take role `to` (it comes back with node_up); and a conversion's end, done (ok) or
// not in time.
struct convert_node { node_id node = kNoNode; node_kind to = node_kind::prefill; };
struct conversion_ended { std::string node; bool ok = true; errc code = errc::internal; std::string why; };

using command = std::variant<lookup_cache, reserve, prefill, abort_request, reply, pull_cache, convert_node,
                             conversion_ended>;
using commands = std::vector<command>;

}  // namespace prfaas::sched

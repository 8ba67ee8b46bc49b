#pragma once
// The router actor's parts (actors/router.cpp is the behaviour): its state beside the core's,
// and the calls its handlers make, by concept:
//
//   router_requests.cpp  a request's way through the adapter: accepted (checked, a client's
//                        retry joined), the core's commands for it turned into messages to
//                        nodes (prefix lookups batched, reservation, prefill, pulls, aborts),
//                        its reply
//   router_nodes.cpp     the nodes: registration and loss, who may speak for a request, where
//                        the cache directory is, the slow loops (controller, rebalancer,
//                        conversions), the link, status and metrics
//
// Internal to the router: only its own files include this.

#include <caf/all.hpp>

#include <chrono>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#include "actors/messages.hpp"
#include "actors/node_telemetry.hpp"
#include "actors/outbox.hpp"
#include "actors/roles.hpp"
#include "runtime/kv/prefix_directory.h"
#include "runtime/metrics/exposition.h"
#include "runtime/security/pki.h"
#include "runtime/sched/client_ids.h"
#include "runtime/sched/control_plane.h"
#include "runtime/sched/requesters.h"
#include "runtime/sched/resume.h"

namespace prfaas::actors::router_parts {

using clock_type = std::chrono::steady_clock;
// A client retries a request it has no answer to after a second, from a new actor (the old one
// goes down first): a request its requesters all left is cancelled only after this.
constexpr auto kOrphanGrace = std::chrono::milliseconds(2500);

// Results in one decode node's message (a step's): at most its sequences, far below this.
constexpr size_t kMaxResultsPerMessage = 4096;
// Clients' requests held back while a new router settles; past this many they run at once.
constexpr size_t kMaxHeldBack = 4096;

// Requests in one door's message (client_door.hpp): past this many the rest are refused.
constexpr size_t kMaxSubmissionsPerMessage = 4096;

// Where a request's answer goes: the response promise of a client's own message, or the door of
// a client process and the ticket it gave the request (answered in the door's round of answers).
struct reply_to {
  caf::response_promise promise;
  client_door_actor door;
  uint64_t ticket = 0;
};

// Who sent the message being handled, read before a response promise takes the sender out of
// it: the certificate its requests are recorded under, and the actor watched while they wait.
struct requester {
  std::optional<security::identity> who;  // the certificate it proved (sender_identity)
  std::string owner;
  caf::actor_addr addr;
};

// A registered node's actors, cast to their interfaces once its certificate proved its role.
struct node_handles {
  caf::actor role;                   // its role actor, whichever (monitored, compared)
  prefill_actor prefill;             // a prefill node's
  decode_actor decode;               // a decode node's
  cache_directory_actor directory;   // the cache directory's
  cache_holder_actor cache;          // a prefill or decode node's: it holds a prefix cache
  node_control_actor control;        // its supervisor, never busy
};

// What the adapter keeps per request beside the core's view of it.
struct pending_request {
  std::vector<reply_to> replies;  // the client, and any retry of it that joined
  std::string client_id;
  token_stream_actor stream;     // where its tokens go as they come; null: none
  std::vector<int32_t> prompt;
  decoding how;                  // sampling (with its seed) and stop rule, for every attempt
  std::vector<int32_t> tokens;   // the decode node's output, kept until the core's reply
  bool stopped = false;
  std::vector<model::token_logprobs> logprobs;  // the decode node's; [0] the prefill's
  double decode_ms = 0;
  sched::produced_tokens produced;               // the output so far, from the decode node's chunks
  std::optional<sched::resume_point> resume;     // this attempt continues from it (a decode node was lost)
};

struct router_state {
  router_options options;
  // The core and the slow loops (threshold controller, rebalancer, conversions, request log),
  // the simulator's own code.
  std::unique_ptr<sched::control_plane> cp;
  std::map<std::string, node_handles> handles;  // by node name
  std::map<caf::actor_addr, std::string> names;
  std::map<std::string, node_info> infos;
  std::unordered_map<uint64_t, pending_request> requests;
  // Who waits for each request (clients, gateways, streams), watched: a request they all left
  // is cancelled everywhere after a grace (kOrphanGrace) in which a client's retry may join it.
  sched::requesters<caf::actor_addr> requesters;
  sched::client_ids<generate_result> clients;  // by client id: in flight, answered, owners
  // Request ids name a request on every node: a restarted router must not reuse the ids of its
  // last incarnation, whose requests nodes may still hold.  Random high half, counter below.
  uint64_t next_request = (static_cast<uint64_t>(std::random_device{}()) << 32) | 1;
  std::mt19937_64 seeds{std::random_device{}()};  // for requests that bring no seed
  clock_type::time_point started = clock_type::now();
  node_telemetry telemetry;  // link reports, cache statistics, the link's capacity
  std::map<std::string, caf::response_promise> conversion_replies;  // hand-made conversions' clients
  // The cache directory's index as the directory said it last (directory_news): each prompt is
  // matched here, where it is routed.  Null: no directory registered (no hits).
  std::unique_ptr<kv::prefix_directory> directory_copy;
  // Clients' requests held back while the core settles (accept_request), answered `unreachable`
  // (send again) once it has.
  std::vector<reply_to> held_back;
  // Decode jobs of this round of the mailbox, per decode node: they go together once it was
  // read (outbox.hpp), one message per node however many requests it reserves for.
  outbox<std::map<sched::node_id, std::vector<decode_job>>> decode_jobs;
  outbox<std::map<sched::node_id, std::vector<prefill_job>>> prefill_jobs;  // the same for prefill nodes
  // The round's dispatches, said in one log line when its jobs go (a line each was a write and
  // a flush each: the most of a request's logging cost), at most 64 a line; `dispatched`
  // counts them.
  std::string dispatch_line;
  int dispatched = 0;
  // Answers to clients' doors of this round of the mailbox, one message per door.
  struct door_round {
    client_door_actor door;
    std::vector<door_answer> answers;
  };
  outbox<std::map<caf::actor_addr, door_round>> door_answers;
  // The one deadline timer: armed for the earliest deadline in flight (+inf: none armed).
  double timer_at = std::numeric_limits<double>::infinity();
  static inline const char* name = "router";
};

using router_self = router_actor::stateful_base<router_state>;

inline double now_s(router_self* self) {
  return std::chrono::duration<double>(clock_type::now() - self->state.started).count();
}

inline const sched::core& core_of(router_self* self) { return self->state.cp->state(); }
inline sched::request_log& log_of(router_self* self) { return self->state.cp->log(); }

inline caf::error to_error(const failure& f) { return caf::make_error(f.code(), std::string(f.what())); }

inline bool trusted(router_self* self) { return self->state.options.trust != nullptr; }  // false: --insecure

// -- router.cpp: the core's event in, its commands out -------------------------------------------
void step(router_self* self, const sched::event& e);
void act_all(router_self* self, const sched::commands& out);

// -- router_requests.cpp -------------------------------------------------------------------------
requester requester_of_message(router_self* self);
// A client's request, answered through `to` (at once when refused, or a retry whose answer is
// known; else when it ends).
void accept_request(router_self* self, generate_request& req, const requester& from, reply_to to);
// A door's round of requests, each accepted as above and answered by its ticket.
void accept_submissions(router_self* self, std::vector<submission>& round);
// A door's callers went before their answers (client_door.hpp): their tickets' requests are
// left by that door, and one nobody else waits for is cancelled after kOrphanGrace unless a
// retry joins it.
void door_callers_gone(router_self* self, std::vector<uint64_t>& tickets);
// The cache directory's news (from the registered directory only): its changes applied to the
// router's copy of its index, a reset first starting it over.
void directory_news_at(router_self* self, directory_news& m);
void answer(router_self* self, reply_to& to, const generate_result& out);
void answer(router_self* self, reply_to& to, caf::error err);
// The round's answers go, each door's in one message.
void send_door_answers(router_self* self);
// A node's answer to a job was an error: the core hears why (the node lost first, when the
// error says its role actor is gone or it answered something else than the protocol's reply).
void job_failed(router_self* self, uint64_t id, const caf::error& err, int attempt, const std::string& node,
                const caf::actor_addr& handle);
// A decode node's requests of the lost router (held_report, once it registered here): each
// becomes this router's on that node, as far as it got, for a client's retry to join by client
// id.  Not taken: one without a client id (no retry could find it), one whose client started
// again here or has its answer, one out of range.  The ids taken; the node drops the rest.
std::vector<uint64_t> take_over(router_self* self, held_report& m);
// A prefill node's word that it holds a lost router's job (prefill_news holding), for the core
// (sched::prefill_held): the prefill of a request taken over is that node's.
void prefill_held_at(router_self* self, const held_prefill& m);
// Clients' requests held back while the core awaited its predecessor's nodes (accept_request):
// answered `unreachable` (send again) once it no longer does.
void release_held_back(router_self* self);
// A decode node's news (decode_news), item by item, each from the node holding its request:
// the reservation, the KV landed (the first token), output tokens (kept for a resumption, passed
// to the request's stream), the request's result, its refusal or failure.
void reserved_at(router_self* self, const reservation& m);
void decode_started_at(router_self* self, const decode_started& m);
void tokens_from_decode(router_self* self, token_chunk& m);
void decode_result_at(router_self* self, decode_result& m);
void decode_failed_at(router_self* self, const decode_failed& m);
// The round's decode and prefill jobs go, each node's in one message; a job whose attempt was
// abandoned meanwhile (its node lost, the request ended or dispatched again) stays behind.
// The round's dispatches said in one log line (router_state::dispatch_line), before its jobs go.
void say_dispatched(router_self* self);
void send_decode_jobs(router_self* self);
void send_prefill_jobs(router_self* self);
// A prefill node's news (prefill_news), item by item, each from the node holding its request:
// the KV of a prefill confirmed (the prefill done), or the job's failure.
void prefill_reported_at(router_self* self, const prefill_report& m);
void prefill_failed_at(router_self* self, const prefill_failed& m);
void act(router_self* self, const sched::lookup_cache& c);
void act(router_self* self, const sched::reserve& c);
void act(router_self* self, const sched::prefill& c);
void act(router_self* self, const sched::pull_cache& c);
void act(router_self* self, const sched::abort_request& c);
void act(router_self* self, const sched::reply& c);

// -- router_nodes.cpp ----------------------------------------------------------------------------
// The core and the slow loops for these options (the simulator's own code).
std::unique_ptr<sched::control_plane> control_plane_for(const router_options& o);
caf::result<caf::ok_atom> register_node(router_self* self, const node_info& info, const caf::actor& handle,
                                        const caf::actor& control, const registration_proof& proof);
void node_lost(router_self* self, const std::string& name, const std::string& why);
const node_handles& handle_of(router_self* self, sched::node_id id);
// True when the message being handled comes from the process of node `name` as registered.
bool sent_by(router_self* self, const std::string& name);
// The registered node whose process sent the message being handled (empty: none).
std::string node_of_sender(router_self* self);
// A message about request `id` that only its `role` node may send; false (and a warning) when
// another peer sent it.  Requests the router no longer knows are left to the handlers.
bool from_holder(router_self* self, uint64_t id, sched::node_kind role, const char* what);
cache_directory_actor directory(router_self* self);  // null: none registered
caf::result<int32_t> set_link(router_self* self, const std::string& action, double gbps);
void act(router_self* self, const sched::convert_node& c);
void act(router_self* self, const sched::conversion_ended& c);
caf::error begin_conversion(router_self* self, const std::string& name, const std::string& to,
                            std::optional<caf::response_promise> reply);
void rebalance(router_self* self);
void control(router_self* self);
void write_metrics(router_self* self, metrics::exposition& page);
router_status status_of(router_self* self);
// Status and metrics ask the directory for the nodes' cache statistics first.
void with_cache_stats(router_self* self, std::function<void()> then);

}  // namespace prfaas::actors::router_parts

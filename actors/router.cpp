// Router role: an adapter around the control-plane core (runtime/sched/core.h), which owns every
// request's state machine, the node table and the routing decision.  This actor only turns CAF
// messages into the core's events and the core's commands into CAF messages:
//
//   message in                          event                 command            message out
//   generate_request                 -> request_arrived       lookup_cache    -> match_atom to the directory
//                                                                                (batched while one is in flight)
//   directory's hits                 -> cache_answer          reserve         -> decode_job to a decode node
//   decode_job held tokens           -> reserved              prefill         -> prefill_job to a prefill node
//   prefill_report                   -> prefill_done          abort_request   -> abort_atom to a node
//   decode_started / decode_results  -> first_token / decode_done (each result of a decode step)
//   decode_failed, a refused job     -> request_failed        reply           -> the client's response
//   cache_pulled                     -> cache_pulled          pull_cache      -> cache_pull to the prefill node,
//                                                                                then cache_push to the holder
//   register_atom / down_msg         -> node_up / node_down
//   staging_report                   -> node_staging (a full prefill node gets no new work)
//
// Who may say what: a node registers only under the name and role its certificate's key signed
// (runtime/security/pki.h); afterwards a message about a request counts only when it comes from
// the node the core says holds that part of it, and a message about a node only from that node.
// Anything else is dropped with a warning: a peer that proved membership of the deployment
// still cannot finish, fail or report for somebody else.
//   a deadline timer                 -> tick
//
// Beside the core it keeps what the core has no use for: response promises, prompts, output
// tokens, actor handles, link telemetry.  Nodes send their cache updates to the directory
// themselves: the router names it to each node that registers, and a directory that
// (re)registers to every caching node, which re-publishes its whole cache to it; a lost node is
// dropped from it.  Status and metrics ask the directory for the nodes' cache statistics.

#include <caf/all.hpp>
#include <spdlog/spdlog.h>

#include <chrono>
#include <deque>
#include <functional>
#include <limits>
#include <map>
#include <optional>
#include <random>
#include <unordered_map>

#include "actors/actor_plane.hpp"
#include "actors/messages.hpp"
#include "actors/roles.hpp"
#include "actors/sender_trust.hpp"
#include "runtime/kv/block_hash.h"
#include "runtime/model/generate.h"
#include "runtime/model/tokenizer.h"
#include "actors/node_telemetry.hpp"
#include "runtime/sched/client_ids.h"
#include "runtime/sched/control_plane.h"
#include "runtime/sched/requesters.h"
#include "runtime/sched/resume.h"
#include "runtime/metrics/exposition.h"

namespace prfaas::actors {
namespace {

using clock_type = std::chrono::steady_clock;
// A client retries a request it has no answer to after a second, from a new actor (the old one
// goes down first): a request its requesters all left is cancelled only after this.
constexpr auto kOrphanGrace = std::chrono::milliseconds(2500);

// Results in one decode node's message (a step's): at most its sequences, far below this.
constexpr size_t kMaxResultsPerMessage = 4096;

// A registered node's actors, cast to their interfaces once its certificate proved its role.
struct node_handles {
  caf::actor role;                   // its role actor, whichever (monitored, compared)
  prefill_actor prefill;             // a prefill node's
  decode_actor decode;               // a decode node's
  cache_directory_actor directory;   // the cache directory's
  cache_holder_actor cache;          // a prefill or decode node's: it holds a prefix cache
  node_control_actor control;        // its supervisor, never busy
};

node_handles handles_for(cluster::node_role role, const caf::actor& handle, const caf::actor& control) {
  using cluster::node_role;
  node_handles h;
  h.role = handle;
  h.control = caf::actor_cast<node_control_actor>(control);
  if (role == node_role::prefill) h.prefill = caf::actor_cast<prefill_actor>(handle);
  if (role == node_role::decode) h.decode = caf::actor_cast<decode_actor>(handle);
  if (role == node_role::cache_directory) h.directory = caf::actor_cast<cache_directory_actor>(handle);
  if (role == node_role::prefill || role == node_role::decode) h.cache = caf::actor_cast<cache_holder_actor>(handle);
  return h;
}

// What the adapter keeps per request beside the core's view of it.
struct pending_request {
  std::vector<caf::response_promise> replies;  // the client, and any retry of it that joined
  std::string client_id;
  token_stream_actor stream;     // where its tokens go as they come; null: none
  std::vector<int32_t> prompt;
  decoding how;                  // sampling (with its seed) and stop rule, for every attempt
  std::vector<int32_t> tokens;   // the decode node's output, kept until the core's reply
  bool stopped = false;
  std::vector<model::token_logprobs> logprobs;  // the decode node's; [0] the prefill's
  model::token_logprobs first_logprobs;          // the prefill's report of the first token
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
  std::deque<uint64_t> lookups;  // requests whose prefix lookup waits for the match in flight
  bool lookup_in_flight = false;
  // The one deadline timer: armed for the earliest deadline in flight (+inf: none armed).
  double timer_at = std::numeric_limits<double>::infinity();
  static inline const char* name = "router";
};

using router_self = router_actor::stateful_base<router_state>;

double now_s(router_self* self) {
  return std::chrono::duration<double>(clock_type::now() - self->state.started).count();
}

const sched::core& core_of(router_self* self) { return self->state.cp->state(); }
sched::request_log& log_of(router_self* self) { return self->state.cp->log(); }

caf::error to_error(const failure& f) { return caf::make_error(f.code(), std::string(f.what())); }

bool trusted(router_self* self) { return self->state.options.trust != nullptr; }  // false: --insecure

// A request's ids and decoding fields in their ranges (the sampler's own check, the vocabulary,
// bounded stop lists); throws failure(invalid_argument) naming the first that is not.
void check_decoding(int vocab, const std::vector<int32_t>& prompt, const decoding& how) {
  auto bad = [](const std::string& what) { throw failure(errc::invalid_argument, what); };
  for (int32_t t : prompt)
    if (t < 0 || t >= vocab) bad("prompt token " + std::to_string(t) + " is outside the vocabulary (0.." + std::to_string(vocab - 1) + ")");
  if (how.bias_ids.size() != how.bias_values.size()) bad("logit_bias ids and values differ in number");
  sampling_of(how).validate(vocab);
  if (how.stop_ids.size() > 64) bad("at most 64 stop token ids");
  for (int32_t t : how.stop_ids)
    if (t < 0 || t >= vocab) bad("stop token " + std::to_string(t) + " is outside the vocabulary");
  if (how.stop_strings.size() > 16) bad("at most 16 stop strings");
  for (const auto& s : how.stop_strings)
    if (s.empty() || s.size() > 256) bad("a stop string must hold 1..256 bytes");
}

// A node's error as the core's event: prfaas errors keep their code and text; anything else
// (a CAF timeout, a broken connection) means the node could not be reached.
sched::request_failed failed_event(uint64_t id, const caf::error& err, int attempt) {
  if (err.category() == caf::atom("prfaas")) {
    std::string text;
    const auto& ctx = err.context();
    for (size_t i = 0; i < ctx.size(); ++i)
      if (ctx.match_element<std::string>(i)) text += (text.empty() ? "" : ": ") + ctx.get_as<std::string>(i);
    return {id, static_cast<errc>(err.code()), text, attempt};
  }
  return {id, errc::unreachable, describe(err), attempt};
}

void step(router_self* self, const sched::event& e);
void node_lost(router_self* self, const std::string& name, const std::string& why);

// A job's error.  When it says the role actor itself is gone (it crashed answering, or was
// already dead), the node is lost now, before its down message arrives: otherwise the next
// attempt could be routed to the same dead handle and be lost too.
void job_failed(router_self* self, uint64_t id, const caf::error& err, int attempt, const std::string& node,
                const caf::actor_addr& handle) {
  const bool system = err.category() == caf::atom("system");
  const bool gone = (system && err.code() == static_cast<uint8_t>(caf::sec::request_receiver_down)) ||
                    (err.category() == caf::atom("prfaas") && err.code() == static_cast<uint8_t>(errc::node_lost));
  // A node that answers its job with something else than the protocol's reply is broken or
  // hostile: it gets no more work (re-dispatching to it would only burn the request's attempts).
  const bool malformed = system && (err.code() == static_cast<uint8_t>(caf::sec::unexpected_response) ||
                                    err.code() == static_cast<uint8_t>(caf::sec::unexpected_message));
  auto h = self->state.handles.find(node);
  if ((gone || malformed) && h != self->state.handles.end() && h->second.role.address() == handle)
    node_lost(self, node, malformed ? "it answered a job with a malformed reply (" + describe(err) + ")" : describe(err));
  step(self, failed_event(id, err, attempt));
}

const node_handles& handle_of(router_self* self, sched::node_id id) {
  static const node_handles none;
  const auto& name = core_of(self).node(id).desc.name;
  auto it = self->state.handles.find(name);
  return it == self->state.handles.end() ? none : it->second;
}


// True when the message being handled comes from the process of node `name` as registered.
bool sent_by(router_self* self, const std::string& name) {
  const auto& from = self->current_sender();
  auto h = self->state.handles.find(name);
  return from && h != self->state.handles.end() && from->node() == h->second.role.node();
}

// The node the core has doing `role` of request `id` now (empty: none, or an unknown request).
std::string holder(router_self* self, uint64_t id, sched::node_kind role) {
  const auto* view = core_of(self).find(id);
  if (!view) return {};
  const auto n = role == sched::node_kind::decode ? view->decode_node : view->prefill_node;
  if (n == sched::kNoNode) return {};
  return core_of(self).node(n).desc.name;
}

// A message about request `id` that only its `role` node may send; false (and a warning) when
// another peer sent it.  Requests the router no longer knows are left to the handlers.
bool from_holder(router_self* self, uint64_t id, sched::node_kind role, const char* what) {
  if (!core_of(self).find(id)) return true;
  const auto name = holder(self, id, role);
  if (!name.empty() && sent_by(self, name)) return true;
  // A node that held an earlier attempt may still speak of it after a re-dispatch; any other
  // sender is a misbehaving peer.  Either way only the holder's word counts.
  const auto& from = self->current_sender();
  std::string who = from ? caf::to_string(from->node()) : std::string("an anonymous sender");
  for (const auto& [other, h] : self->state.handles)
    if (from && h.role.node() == from->node()) who = "node " + other;
  spdlog::warn("router: dropped a {} for request {} from {}, which does not hold it", what, id, who);
  return false;
}

// The cache directory registered now (null: none) and the endpoint it is published at.
struct directory_entry {
  cache_directory_actor handle;
  std::string at;
};

directory_entry directory_now(router_self* self) {
  for (const auto& n : core_of(self).nodes())
    if (n.up && n.desc.kind == sched::node_kind::cache_directory)
      return {handle_of(self, n.id).directory, self->state.infos.at(n.desc.name).data_endpoint};
  return {};
}

cache_directory_actor directory(router_self* self) { return directory_now(self).handle; }

// Tells a caching node where the directory is: its handle only to a node of its own process
// (a handle of a third process would make that node's messages cross this one), else the
// endpoint it publishes, to which the node connects itself.
void name_directory(router_self* self, const node_handles& to) {
  if (!to.cache) return;
  const auto dir = directory_now(self);
  const bool same_process = dir.handle && dir.handle.node() == to.cache.node();
  self->send(to.cache, atoms::republish_atom::value,
             same_process ? caf::actor_cast<caf::actor>(dir.handle) : caf::actor{}, dir.at);
}

sched::cache_hits hits_of(router_self* self, const std::vector<cache_hit>& hits) {
  const auto& o = self->state.options;
  sched::cache_hits h;
  for (const auto& hit : hits) {
    if (hit.cluster == o.local_cluster) h.local = std::max(h.local, hit.tokens);
    else if (hit.cluster == o.prfaas_cluster) h.prfaas = std::max(h.prfaas, hit.tokens);
    if (auto n = core_of(self).node_by_name(hit.node)) {
      if (hit.tokens > 0) h.nodes.emplace_back(*n, hit.tokens);
      h.held.emplace_back(*n, hit.held_tokens);
    }
  }
  return h;
}

// One match in flight at a time: the lookups of requests arriving meanwhile go together in the
// next one (no wait when the directory keeps up, one round trip for many when it does not).
constexpr size_t kMatchBatch = 1024;

void send_lookups(router_self* self) {
  auto& st = self->state;
  if (st.lookup_in_flight) return;
  const auto dir = directory(self);
  std::vector<uint64_t> ids;
  std::vector<std::vector<uint64_t>> chains;  // the prompts' chain keys: the directory needs no tokens
  while (!st.lookups.empty() && ids.size() < kMatchBatch) {
    const uint64_t id = st.lookups.front();
    st.lookups.pop_front();
    auto r = st.requests.find(id);
    if (r == st.requests.end()) continue;  // ended meanwhile
    if (!dir) { step(self, sched::cache_answer{id, {}}); continue; }  // no directory: no hit
    ids.push_back(id);
    chains.push_back(kv::reusable_chain(r->second.prompt, st.options.model.block_tokens));
  }
  if (ids.empty()) return;
  st.lookup_in_flight = true;
  auto done = [=](const std::vector<std::vector<cache_hit>>* hits) {
    self->state.lookup_in_flight = false;
    for (size_t i = 0; i < ids.size(); ++i)
      step(self, sched::cache_answer{ids[i], hits && i < hits->size() ? hits_of(self, (*hits)[i]) : sched::cache_hits{}});
    send_lookups(self);
  };
  self->request(dir, std::chrono::seconds(1), atoms::match_atom::value, std::move(chains))
      .then([=](const std::vector<std::vector<cache_hit>>& hits) { done(&hits); },
            [=](caf::error& err) {
              spdlog::warn("router: cache directory did not answer ({}); assuming no hit for {} requests",
                           describe(err), ids.size());
              done(nullptr);
            });
}

void act(router_self* self, const sched::lookup_cache& c) {
  self->state.lookups.push_back(c.id);
  send_lookups(self);
}

void act(router_self* self, const sched::reserve& c) {
  auto& st = self->state;
  const auto& r = st.requests.at(c.id);
  const auto* view = core_of(self).find(c.id);
  if (c.attempt > 0) spdlog::warn("router: request {} dispatched again (attempt {})", c.id, c.attempt + 1);
  spdlog::info("router: request {} ({} tokens, {} cached) -> {} prefill {} -> decode {}", c.id, r.prompt.size(),
               view->cached_tokens, policy::to_string(view->path), core_of(self).node(view->prefill_node).desc.name,
               core_of(self).node(c.decode).desc.name);
  const auto id = c.id;
  const int attempt = c.attempt;
  log_of(self).routed(id, policy::to_string(view->path), core_of(self).node(view->prefill_node).desc.name,
                core_of(self).node(c.decode).desc.name, view->cached_tokens, now_s(self));
  // An attempt after a lost decode node continues from the output it had produced.
  auto& p = st.requests.at(c.id);
  p.resume = attempt > 0 ? sched::resume_from(p.prompt, p.produced.tokens(), p.how.logprobs >= 0) : std::nullopt;
  if (p.resume)
    spdlog::info("router: request {} resumes after {} output tokens", id, p.resume->output.size());
  decode_job job{id, static_cast<int32_t>(p.resume ? p.resume->prompt.size() : r.prompt.size()), view->max_tokens,
                 r.prompt, attempt, static_cast<bool>(r.stream), r.how};
  if (p.resume) job.output = p.resume->output;
  const auto to = handle_of(self, c.decode).decode;
  const std::string name = core_of(self).node(c.decode).desc.name;
  const auto addr = to.address();
  self->request(to, std::chrono::seconds(5), job)
      .then([=](int32_t held) { step(self, sched::reserved{id, attempt, held}); },
            [=](caf::error& err) { job_failed(self, id, err, attempt, name, addr); });
}

void act(router_self* self, const sched::prefill& c) {
  auto& st = self->state;
  const auto id = c.id;
  const int attempt = c.attempt;
  const auto& decode = core_of(self).node(c.decode).desc.name;
  const auto* view = core_of(self).find(id);
  const int left_ms = view->deadline_s > 0 ? std::max(1, static_cast<int>((view->deadline_s - now_s(self)) * 1000)) : 0;
  const auto& p = st.requests.at(id);
  prefill_job job{id, p.resume ? p.resume->prompt : p.prompt, st.infos.at(decode).data_endpoint, left_ms, attempt,
                  p.how, c.decode_held_tokens, p.resume ? p.resume->next_token() : -1};
  const auto to = handle_of(self, c.node).prefill;
  const std::string name = core_of(self).node(c.node).desc.name;
  const auto addr = to.address();
  log_of(self).prefill_sent(id, now_s(self));
  self->request(to, std::chrono::milliseconds(st.options.policy.deadline_ms), std::move(job))
      .then(
          [=](const prefill_report& rep) {
            if (const auto* v = core_of(self).find(id); v && v->attempt == attempt) {
              log_of(self).prefill_reported(id, rep.phases, rep.kv_bytes);
              if (auto it = self->state.requests.find(id); it != self->state.requests.end())
                it->second.first_logprobs = rep.first_logprobs;
            }
            step(self, sched::prefill_done{id, rep.cached_tokens, rep.computed_tokens, attempt});
          },
          [=](caf::error& err) { job_failed(self, id, err, attempt, name, addr); });
}

// The prefill node arms its receiver first; only then is the holder asked to send.  The prefill
// node reports cache_pulled when the prefix is in its cache; a refusal on either side ends the
// pull with nothing (the prefill recomputes).
void act(router_self* self, const sched::pull_cache& c) {
  auto& st = self->state;
  const auto id = c.id;
  const int attempt = c.attempt;
  const auto to = handle_of(self, c.to).prefill;
  const auto from = handle_of(self, c.from).cache;
  const std::string to_name = core_of(self).node(c.to).desc.name;
  if (!to || !from) { step(self, sched::cache_pulled{id, 0, attempt}); return; }
  const auto& prompt = st.requests.at(id).prompt;
  cache_push push{id, prompt, c.tokens, st.infos.at(to_name).data_endpoint};
  spdlog::info("router: request {}: pulling {} cached tokens from {} to {}", id, c.tokens,
               core_of(self).node(c.from).desc.name, to_name);
  self->request(to, std::chrono::seconds(5), cache_pull{id, prompt, c.tokens, attempt})
      .then(
          [=](caf::ok_atom) {
            self->request(from, std::chrono::seconds(30), push)
                .then([=](int32_t) { /* the prefill node reports cache_pulled */ },
                      [=](caf::error& err) {
                        spdlog::warn("router: request {}: the cache holder did not send ({})", id, describe(err));
                        self->send(to, atoms::abort_atom::value, id, attempt);  // it answers cache_pulled{0}
                      });
          },
          [=](caf::error& err) {
            spdlog::warn("router: request {}: {} cannot take the pulled prefix ({})", id, to_name, describe(err));
            step(self, sched::cache_pulled{id, 0, attempt});
          });
}

// The role drops what it holds when it next reads its mailbox; its supervisor marks the request
// cancelled at once, for work the role is in the middle of (a prefill checks between layers).
void act(router_self* self, const sched::abort_request& c) {
  const int32_t attempt = c.attempt;
  const auto& h = handle_of(self, c.node);
  if (h.cache) self->send(h.cache, atoms::abort_atom::value, c.id, attempt);
  if (h.control) self->send(h.control, atoms::abort_atom::value, c.id, attempt);
}

// Whoever sent or streams a request is watched while it waits: one monitor per requester.
void watch_requester(router_self* self, uint64_t id, const caf::actor_addr& who) {
  if (who && self->state.requesters.add(id, who)) self->monitor(who);
}

void act(router_self* self, const sched::reply& c) {
  auto& st = self->state;
  for (const auto& idle : st.requesters.ended(c.id)) self->demonitor(idle);
  auto it = st.requests.find(c.id);
  if (it == st.requests.end()) return;
  pending_request& p = it->second;
  if (!c.ok) {
    spdlog::warn("router: request {} failed: {}: {}", c.id, to_string(c.code), c.why);
    log_of(self).ended(c.id, to_string(c.code), c.why, 0, 0, now_s(self));
    for (auto& rp : p.replies) rp.deliver(caf::make_error(c.code, c.why));
    st.clients.failed(p.client_id, c.code, c.why);
  } else {
    const auto& v = c.request;
    generate_result out;
    out.request = c.id;
    out.tokens = std::move(p.tokens);
    out.path = policy::to_string(v.path);
    out.prefill_node = core_of(self).node(v.prefill_node).desc.name;
    out.decode_node = core_of(self).node(v.decode_node).desc.name;
    out.ttft_ms = (v.first_token_s - v.accepted_s) * 1000;
    out.total_ms = (now_s(self) - v.accepted_s) * 1000;
    out.tokens_per_s = p.decode_ms > 0 ? (out.tokens.size() - 1) * 1000.0 / p.decode_ms : 0;
    out.kv_bytes = v.kv_bytes;
    out.decode_cached_tokens = v.decode_held_tokens;
    out.kv_held_bytes = v.kv_held_bytes;
    out.cached_tokens = v.cached_tokens;
    out.uncached_tokens = v.computed_tokens;
    out.cache_source = sched::to_string(v.source);
    out.stopped = p.stopped;
    out.seed = p.how.seed;
    out.logprobs = std::move(p.logprobs);
    if (!out.logprobs.empty()) out.logprobs[0] = std::move(p.first_logprobs);
    log_of(self).ended(c.id, "completed", "", static_cast<int>(out.tokens.size()), p.decode_ms, now_s(self));
    if (const auto* t = log_of(self).find(c.id)) out.timeline = *t;
    for (auto& rp : p.replies) rp.deliver(out);
    st.clients.completed(p.client_id, out);
  }
  st.requests.erase(it);
}

// A drained node's supervisor turns its role into the other; it registers again in that role.
void act(router_self* self, const sched::convert_node& c) {
  if (const auto& ctl = handle_of(self, c.node).control)
    self->send(ctl, atoms::convert_atom::value, std::string(sched::to_string(c.to)));
}

void act(router_self* self, const sched::conversion_ended& c) {
  if (c.ok)  // its new role is the core's already (the registration stepping node_up ended it)
    spdlog::info("router: {} now serves as a {} node", c.node,
                 sched::to_string(core_of(self).node(*core_of(self).node_by_name(c.node)).desc.kind));
  else spdlog::warn("router: {}", c.why);
  auto rp = self->state.conversion_replies.find(c.node);
  if (rp == self->state.conversion_replies.end()) return;
  if (c.ok) rp->second.deliver(int32_t{0});
  else rp->second.deliver(caf::make_error(c.code, c.why));
  self->state.conversion_replies.erase(rp);
}

void act_all(router_self* self, const sched::commands& out) {
  for (const auto& c : out) std::visit([&](const auto& x) { act(self, x); }, c);
}

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

void step(router_self* self, const sched::event& e) {
  sched::commands out;
  self->state.cp->handle(e, now_s(self), out);
  act_all(self, out);
  arm_deadline(self);
}

// The roles that register (a router or a gateway never does; a peer may send any number).
sched::node_kind kind_of(cluster::node_role role) {
  using cluster::node_role;
  if (role == node_role::prefill || role == node_role::decode || role == node_role::cache_directory) return role;
  throw failure(errc::invalid_argument, std::string("a ") + cluster::to_string(role) + " node cannot register with the router");
}

// The leader's roster (router_options::roster) follows the registered nodes.
void update_roster(router_self* self) {
  auto& st = self->state;
  if (!st.options.roster) return;
  std::vector<std::string> names;
  names.reserve(st.handles.size());
  for (const auto& [name, h] : st.handles) names.push_back(name);
  st.options.roster->set(std::move(names));
}

void node_lost(router_self* self, const std::string& name, const std::string& why) {
  auto& st = self->state;
  const auto id = core_of(self).node_by_name(name);
  if (!id) return;
  const std::string role = sched::to_string(core_of(self).node(*id).desc.kind);
  if (const auto* c = st.cp->converting(name); c && c->told)
    spdlog::info("router: {} node {} left its role to become a {} node", role, name, sched::to_string(c->to));
  else
    spdlog::warn("router: {} node {} lost ({})", role, name, why);
  step(self, sched::node_down{*id, role + " node " + name + " lost (" + why + ")"});
  st.handles.erase(name);
  update_roster(self);
  st.telemetry.forget(name);
  if (auto dir = directory(self)) self->send(dir, atoms::drop_atom::value, name);
}

// Starts converting local node `name` to `to` (prefill | decode): drains it, then its supervisor
// is told (convert_node); `reply` hears when it serves again (conversion_ended).
caf::error begin_conversion(router_self* self, const std::string& name, const std::string& to,
                            std::optional<caf::response_promise> reply) {
  auto& st = self->state;
  sched::commands out;
  if (auto no = st.cp->convert(name, to, now_s(self), out)) return caf::make_error(no.code, no.why);
  spdlog::info("router: converting {} to a {} node: draining it first", name, to);
  if (reply) st.conversion_replies[name] = std::move(*reply);
  // Its time runs out on a tick (the control plane ends it then).
  self->delayed_send(self, std::chrono::milliseconds(st.options.policy.drain_ms + 10), atoms::deadline_atom::value);
  act_all(self, out);
  return {};
}

// The end of a rebalance period: the control plane's rule on the stages it integrated.
void rebalance(router_self* self) {
  auto& st = self->state;
  self->delayed_send(self, std::chrono::milliseconds(st.options.policy.rebalance_period_ms), atoms::rebalance_atom::value);
  sched::commands out;
  if (const auto period = st.cp->rebalance(now_s(self), out); !period.node.empty()) {
    spdlog::info("router: rebalancer: local prefill {:.0f} % busy, decode slots {:.0f} % decoding: {} becomes a {} node",
                 100 * period.inputs.pd_prefill_busy, 100 * period.inputs.decode_occupancy, period.node,
                 sched::to_string(period.to));
    self->delayed_send(self, std::chrono::milliseconds(st.options.policy.drain_ms + 10), atoms::deadline_atom::value);
  }
  act_all(self, out);
}

// One period of the live threshold controller: the PrfaaS egress the prefill nodes measured
// against the link's capacity now.
void control(router_self* self) {
  auto& st = self->state;
  if (!st.cp->controller_on()) return;
  self->delayed_send(self, std::chrono::milliseconds(st.options.policy.controller_period_ms), atoms::tick_atom::value);
  sched::commands out;
  const sched::link_view link{st.telemetry.egress_gbps(), st.telemetry.capacity_gbps()};
  if (const auto moved = st.cp->control(link, now_s(self), out))
    spdlog::info("router: threshold t {} -> {} tokens (PrfaaS egress {:.3f} of {:.3f} Gbps, {:.0f} % utilised; "
                 "{:.1f} requests per PrfaaS node)",
                 moved->before, static_cast<int>(moved->after), link.egress_gbps, link.capacity_gbps,
                 100 * moved->inputs.egress_utilisation, moved->inputs.prfaas_queue_per_instance);
  act_all(self, out);
}

// The router's families of /metrics: the control plane's (requests, nodes, t, conversions), then
// the link and the caches as the router last heard of them.
void write_metrics(router_self* self, metrics::exposition& page) {
  using metrics::kind;
  auto& st = self->state;
  st.cp->write_metrics(page, now_s(self));
  st.telemetry.write_metrics(page);
  const auto traffic = actor_plane_traffic();
  page.family("prfaas_actor_plane_messages_total", metrics::kind::counter,
              "Actor messages the router process read (in) and wrote (out) on its TLS connections.");
  page.sample({{"direction", "in"}}, static_cast<double>(traffic.messages_in));
  page.sample({{"direction", "out"}}, static_cast<double>(traffic.messages_out));
}

router_status status_of(router_self* self) {
  auto& st = self->state;
  router_status s;
  for (const auto kind : {sched::node_kind::cache_directory, sched::node_kind::prefill, sched::node_kind::decode})
    for (const auto& [name, info] : st.infos)
      if (auto id = core_of(self).node_by_name(name))
        if (core_of(self).node(*id).up && core_of(self).node(*id).desc.kind == kind) s.nodes.push_back(info);
  st.telemetry.fill(s);
  s.threshold_tokens = core_of(self).threshold_tokens();
  s.threshold_moves = st.cp->threshold_moves();
  s.conversions = st.cp->conversions();
  const auto [recent, offloaded] = st.cp->last_minute(now_s(self));
  s.recent_completed = recent;
  s.offload_share = s.recent_completed ? static_cast<double>(offloaded) / s.recent_completed : 0;
  s.completed = core_of(self).counters().completed;
  s.failed = core_of(self).counters().failed + core_of(self).counters().refused;
  s.in_flight = static_cast<int64_t>(core_of(self).requests().size());
  return s;
}

// Each node's cache statistics live in the cache directory (nodes send it their updates): status
// and metrics ask it first, and go on without them when it is missing or silent.
void with_cache_stats(router_self* self, std::function<void()> then) {
  const auto dir = directory(self);
  if (!dir) return then();
  self->request(dir, std::chrono::seconds(1), atoms::metrics_atom::value)
      .then(
          [=](const std::vector<cache_stats>& stats) {
            self->state.telemetry.caches(stats);
            then();
          },
          [=](caf::error&) { then(); });
}

router_actor::behavior_type router(router_self* self, router_options options) {
  self->state.options = std::move(options);
  const auto& o = self->state.options;
  const auto& config = o.policy;
  self->state.telemetry = node_telemetry(o.link_gbps);
  sched::control_plane_options cpo;
  cpo.core = {config.threshold_tokens, config.bandwidth_abundant, /*use_directory=*/true,
              config.pull_min_tokens, config.max_in_flight, 1024, config.max_attempts,
              config.queue_max, /*settle_until_s=*/config.settle_ms / 1000.0,
              /*settle_for=*/o.roster ? o.roster->names() : std::vector<std::string>{}};
  if (!cpo.core.settle_for.empty())
    spdlog::info("router: routing once the {} nodes the previous router held are back (at most {} ms)",
                 cpo.core.settle_for.size(), config.settle_ms);
  if (config.controller) {
    cpo.prfaas_profile = o.prfaas_profile;
    cpo.pd_profile = o.pd_profile;
    cpo.output_tokens = config.output_tokens;
  }
  cpo.rebalancer = config.rebalancer;
  cpo.conversion_s = config.drain_ms / 1000.0;
  self->state.cp = std::make_unique<sched::control_plane>(std::move(cpo));
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
      [=](atoms::register_atom, node_info info, caf::actor handle, caf::actor control,
          const registration_proof& proof) -> caf::result<caf::ok_atom> {
        auto& st = self->state;
        const std::string mine = st.options.model.fingerprint();
        try {
          const auto* c = st.cp->converting(info.name);
          check_registration(self, st.options.trust.get(), {info.name, cluster::to_string(info.role)}, handle, control,
                             proof, c && c->told && c->to == info.role);
          const auto& from = self->current_sender();
          // One process per name: while the node registered under it lives (its process has
          // not been found gone), another process may not take it; it may retry (unreachable
          // says so), and gets the name once the holder's down message arrived.
          if (auto held = st.handles.find(info.name); held != st.handles.end() && held->second.role.node() != from->node())
            throw failure(errc::unreachable, "the name " + info.name + " is held by a live node (actor-plane node " +
                                                 caf::to_string(held->second.role.node()) + "); retry once it is gone");
          if (info.model != mine)
            throw failure(errc::model_mismatch, "node " + info.name + " runs model [" + info.model +
                                                    "] but the router runs [" + mine + "]");
          step(self, sched::node_up{{info.name, kind_of(info.role), info.prfaas, info.capacity}});
        } catch (const failure& f) {
          spdlog::error("router: refused node {}: {}", info.name, f.what());
          return to_error(f);
        }
        if (!st.options.trust) spdlog::warn("router: registered {} on its word (--insecure: no certificate checked)", info.name);
        else bind_node_identity(node_bytes(self->system(), self->current_sender()->node()), info.name);
        self->monitor(handle);
        st.names[handle.address()] = info.name;
        st.handles[info.name] = handles_for(info.role, handle, control);
        st.infos[info.name] = info;
        update_roster(self);
        spdlog::info("router: registered {} node {} (cluster {}, actor-plane node {})", cluster::to_string(info.role),
                     info.name, info.cluster,
                     caf::to_string(self->current_sender()->node()));
        // Nodes send their cache updates to the directory themselves: a new node learns where
        // it is, and a new directory, which knows nothing, hears every node's whole cache.
        if (info.role == cluster::node_role::cache_directory) {
          for (const auto& n : core_of(self).nodes())
            if (n.up && n.desc.kind != sched::node_kind::cache_directory) name_directory(self, handle_of(self, n.id));
        } else {
          name_directory(self, st.handles[info.name]);
        }
        return caf::ok_atom::value;
      },
      // The emulated inter-cluster link, through each PrfaaS prefill node's supervisor (its role
      // may be busy for the length of the fault).
      [=](atoms::link_atom, const std::string& action, double gbps) -> caf::result<int32_t> {
        auto& st = self->state;
        if (const auto why = operator_refusal(self, trusted(self), "changing the inter-cluster link"); !why.empty())
          return caf::make_error(errc::invalid_argument, why);
        if (action != "cut" && action != "restore" && action != "rate")
          return caf::make_error(errc::invalid_argument, "unknown link action '" + action + "' (cut, restore, rate)");
        if (action == "rate" && !(gbps > 0 && gbps <= 1e4))
          return caf::make_error(errc::invalid_argument, "a link rate must be in (0, 10000] Gbps");
        std::vector<node_control_actor> nodes;
        for (const auto& [name, info] : st.infos)
          if (info.prfaas && info.role == cluster::node_role::prefill)
            if (auto h = st.handles.find(name); h != st.handles.end() && h->second.control) nodes.push_back(h->second.control);
        for (auto& c : nodes)
          self->send(c, atoms::link_atom::value, action, gbps);  // the whole link: each node knows how it shares it
        spdlog::warn("router: link {} ({:.3f} Gbps) on {} PrfaaS prefill nodes", action, gbps, nodes.size());
        // What status, metrics, the egress log and the controller read from now: the rate set,
        // or, restored, the configured capacity again.
        if (action == "rate") st.telemetry.said(gbps);
        if (action == "restore") st.telemetry.restored();
        return static_cast<int32_t>(nodes.size());
      },
      [=](generate_request& req) -> caf::result<generate_result> {
        auto& st = self->state;
        // Read before make_response_promise, which takes the sender out of the message.
        const std::string owner = owner_of_sender(self, trusted(self));
        const auto requester = caf::actor_cast<caf::actor_addr>(self->current_sender());
        auto prompt = req.prompt_ids.empty() ? model::encode(req.prompt) : std::move(req.prompt_ids);
        try {
          model::check_request(st.options.model, prompt.size(), req.max_tokens);
          check_decoding(st.options.model.vocab, prompt, req.how);
        } catch (const failure& f) {
          log_of(self).refused(to_string(f.code()));
          return to_error(f);
        }
        // A client's retry of a request still in flight joins it; only the certificate that
        // submitted it may (a client id is no capability).
        if (!req.client_id.empty()) {
          const auto& c = st.clients;
          if (const auto* owner = c.owner(req.client_id); owner && !may_touch(self, trusted(self), *owner, "joining request " + req.client_id))
            return caf::make_error(errc::invalid_argument, "the client id names another certificate's request");
          if (const auto* done = c.result(req.client_id)) {
            spdlog::info("router: a retry of request {} got its result again", done->request);
            return *done;
          }
          if (const auto* failed = c.failure_of(req.client_id)) return caf::make_error(failed->first, failed->second);
          if (const auto known = c.in_flight(req.client_id)) {
            auto rp = self->make_response_promise();
            auto& replies = st.requests.at(*known).replies;
            // The newest retries wait; a client that retried this often gave up on the oldest.
            if (replies.size() >= 4) replies.erase(replies.begin());
            replies.push_back(rp);
            watch_requester(self, *known, requester);
            spdlog::info("router: a retry of request {} joined it", *known);
            return rp;
          }
        }
        const uint64_t id = st.next_request++;
        const int deadline_ms = req.deadline_ms > 0 ? req.deadline_ms : st.options.policy.deadline_ms;
        pending_request p;
        auto rp = self->make_response_promise();
        p.replies.push_back(rp);
        p.client_id = req.client_id;
        p.stream = caf::actor_cast<token_stream_actor>(req.stream);
        st.clients.started(req.client_id, id, owner);
        p.prompt = std::move(prompt);
        p.how = std::move(req.how);
        if (!p.how.seeded) {  // the router's own: returned, so the client can run it again
          p.how.seed = st.seeds();
          p.how.seeded = true;
        }
        const int prompt_tokens = static_cast<int>(p.prompt.size());
        watch_requester(self, id, requester);
        if (p.stream) watch_requester(self, id, p.stream.address());
        st.requests.emplace(id, std::move(p));
        log_of(self).accepted(id, prompt_tokens, req.max_tokens, now_s(self),
                        std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::system_clock::now().time_since_epoch()).count());
        step(self, sched::request_arrived{id, prompt_tokens, req.max_tokens, now_s(self) + deadline_ms / 1000.0});
        return rp;
      },
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
      [=](const decode_started& m) {
        if (!from_holder(self, m.request, sched::node_kind::decode, "decode start")) return;
        if (const auto* v = core_of(self).find(m.request); v && v->attempt == m.attempt)
          log_of(self).first_token(m.request, m.phases, m.kv_bytes, now_s(self));
        step(self, sched::first_token{m.request, m.kv_bytes, m.attempt, m.kv_held_bytes});
      },
      [=](const cache_pulled& m) {
        if (!from_holder(self, m.request, sched::node_kind::prefill, "pulled prefix")) return;
        step(self, sched::cache_pulled{m.request, m.tokens, m.attempt});
      },
      // What one decode step ended, every result checked on its own.
      [=](std::vector<decode_result>& results) {
        if (results.size() > kMaxResultsPerMessage) return;  // more than any node holds
        for (auto& m : results) {
          if (!from_holder(self, m.request, sched::node_kind::decode, "result")) continue;
          auto it = self->state.requests.find(m.request);
          const auto* view = core_of(self).find(m.request);
          if (it == self->state.requests.end() || !view || view->attempt != m.attempt) continue;  // an abandoned attempt
          it->second.tokens = std::move(m.tokens);
          it->second.stopped = m.stopped;
          it->second.logprobs = std::move(m.logprobs);
          it->second.decode_ms = m.decode_ms;
          step(self, sched::decode_done{m.request, m.attempt});
        }
      },
      // Output tokens from the decode node holding the request: kept (a resumption starts from
      // them), and passed to the request's stream.
      [=](token_chunk& m) {
        if (!from_holder(self, m.request, sched::node_kind::decode, "tokens")) return;
        auto it = self->state.requests.find(m.request);
        const auto* view = core_of(self).find(m.request);
        if (it == self->state.requests.end() || !view || view->attempt != m.attempt) return;
        it->second.produced.add(m.offset, m.tokens);
        if (it->second.stream) self->send(it->second.stream, std::move(m));
      },
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
      [=](const decode_failed& m) {
        if (!from_holder(self, m.request, sched::node_kind::decode, "failure")) return;
        step(self, sched::request_failed{m.request, m.code, m.error, m.attempt});
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

router_actor spawn_router(caf::actor_system& sys, router_options options) { return sys.spawn(router, std::move(options)); }

router_actor spawn_router(caf::actor_system& sys, const config::deployment_config& config,
                          std::shared_ptr<const security::verifier> trust) {
  return spawn_router(sys, router_options_for(config, std::move(trust)));
}

}  // namespace prfaas::actors

// A request's way through the router adapter (router_parts.hpp): accepted, its core commands
// turned into messages to nodes, its reply.  The decisions are the core's (runtime/sched).

#include <spdlog/spdlog.h>

#include <algorithm>
#include <iterator>
#include <utility>

#include "actors/actor_plane.hpp"
#include "actors/client_door.hpp"
#include "actors/router_parts.hpp"
#include "actors/sender_trust.hpp"
#include "runtime/kv/block_hash.h"
#include "runtime/model/generate.h"
#include "runtime/model/tokenizer.h"

namespace prfaas::actors::router_parts {
namespace {

// A request's ids and decoding fields in their ranges (the sampler's own check, the vocabulary,
// bounded stop lists); throws failure(invalid_argument) naming the first that is not.
// Ids in the vocabulary; throws failure(invalid_argument) naming the first that is not (`what`:
// "prompt token", "output token").
void check_ids(int vocab, const std::vector<int32_t>& ids, const char* what) {
  for (int32_t t : ids)
    if (t < 0 || t >= vocab)
      throw failure(errc::invalid_argument, std::string(what) + " " + std::to_string(t) +
                                                " is outside the vocabulary (0.." + std::to_string(vocab - 1) + ")");
}

void check_decoding(int vocab, const std::vector<int32_t>& prompt, const decoding& how) {
  auto bad = [](const std::string& what) { throw failure(errc::invalid_argument, what); };
  check_ids(vocab, prompt, "prompt token");
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
  if (err.category() == caf::atom("prfaas")) return {id, static_cast<errc>(err.code()), error_words(err), attempt};
  return {id, errc::unreachable, describe(err), attempt};
}

}  // namespace

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

namespace {

sched::cache_hits hits_of(router_self* self, const std::vector<kv::directory_hit>& hits) {
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

// Bounds on what the directory's news may carry: updates in one message, and keys in one update
// (its four lists, each at most a node's bound of keys, kv::prefix_directory).
constexpr size_t kMaxNewsUpdates = 1 << 16;
constexpr size_t kMaxUpdateKeys = 4u << 20;

// The request's timeline starts now (the router's clock, and the wall clock's for people).
void log_accepted(router_self* self, uint64_t id, int prompt_tokens, int max_tokens) {
  log_of(self).accepted(id, prompt_tokens, max_tokens, now_s(self),
                        std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::system_clock::now().time_since_epoch()).count());
}

// Whoever sent or streams a request is watched while it waits: one monitor per requester.
void watch_requester(router_self* self, uint64_t id, const caf::actor_addr& who) {
  if (who && self->state.requesters.add(id, who)) self->monitor(who);
}

}  // namespace

void directory_news_at(router_self* self, directory_news& m) {
  auto& st = self->state;
  const auto dir = directory(self);
  if (!dir || caf::actor_cast<caf::actor_addr>(self->current_sender()) != dir.address() || !st.directory_copy) return;
  if (m.updates.size() > kMaxNewsUpdates || m.dropped.size() > kMaxNewsUpdates) return;  // more than any holds
  if (m.reset) st.directory_copy = std::make_unique<kv::prefix_directory>(st.options.model.block_tokens);
  for (auto& u : m.updates) {
    if (u.added_blocks.size() + u.removed_blocks.size() + u.added_snapshots.size() + u.removed_snapshots.size() >
        kMaxUpdateKeys)
      continue;
    const kv::cache_delta d{std::move(u.added_blocks), std::move(u.removed_blocks), std::move(u.added_snapshots),
                            std::move(u.removed_snapshots)};
    st.directory_copy->apply(u.node, u.cluster, d, u.reset);
  }
  for (const auto& node : m.dropped) st.directory_copy->drop(node);
}

requester requester_of_message(router_self* self) {
  return {sender_identity(self), owner_of_sender(self, trusted(self)),
          caf::actor_cast<caf::actor_addr>(self->current_sender())};
}

void accept_request(router_self* self, generate_request& req, const requester& from, reply_to to) {
  auto& st = self->state;
  const std::string& owner = from.owner;
  auto prompt = req.prompt_ids.empty() ? model::encode(req.prompt) : std::move(req.prompt_ids);
  try {
    model::check_request(st.options.model, prompt.size(), req.max_tokens);
    check_decoding(st.options.model.vocab, prompt, req.how);
  } catch (const failure& f) {
    log_of(self).refused(to_string(f.code()));
    return answer(self, to, to_error(f));
  }
  // A client's retry of a request still in flight joins it; only the certificate that
  // submitted it may (a client id is no capability).
  if (!req.client_id.empty()) {
    const auto& c = st.clients;
    if (const auto* owner = c.owner(req.client_id); owner && !may_touch(self, trusted(self), from.who, *owner, "joining request " + req.client_id))
      return answer(self, to, caf::make_error(errc::invalid_argument, "the client id names another certificate's request"));
    if (const auto* done = c.result(req.client_id)) {
      spdlog::info("router: a retry of request {} got its result again", done->request);
      return answer(self, to, *done);
    }
    if (const auto* failed = c.failure_of(req.client_id))
      return answer(self, to, caf::make_error(failed->first, failed->second));
    if (const auto known = c.in_flight(req.client_id)) {
      auto& joined = st.requests.at(*known);
      auto& replies = joined.replies;
      // The newest retries wait; a client that retried this often gave up on the oldest.
      if (replies.size() >= 4) replies.erase(replies.begin());
      replies.push_back(std::move(to));
      watch_requester(self, *known, from.addr);
      // A request taken over from a lost router streams to nobody yet: to this retry's stream
      // from here on, starting with the output so far (the client keeps what it has not seen).
      if (!joined.stream && req.stream) {
        joined.stream = caf::actor_cast<token_stream_actor>(req.stream);
        watch_requester(self, *known, joined.stream.address());
        if (const auto* v = core_of(self).find(*known); v && !joined.produced.tokens().empty())
          self->send(joined.stream, token_chunk{*known, 0, joined.produced.tokens(), v->attempt});
      }
      spdlog::info("router: a retry of request {} joined it", *known);
      return;
    }
  }
  // Settling after a change of router: a client's (re)send of a request the router does not know
  // waits unanswered until the decode nodes said what they hold of the last router's requests;
  // its client sends it again (a second later), joining the request if one was taken over.
  if (!req.client_id.empty() && !req.stream && core_of(self).awaiting_nodes(now_s(self)) &&
      st.held_back.size() < kMaxHeldBack) {
    st.held_back.push_back(std::move(to));
    return;
  }
  const uint64_t id = st.next_request++;
  const int deadline_ms = req.deadline_ms > 0 ? req.deadline_ms : st.options.policy.deadline_ms;
  pending_request p;
  p.replies.push_back(std::move(to));
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
  watch_requester(self, id, from.addr);
  if (p.stream) watch_requester(self, id, p.stream.address());
  st.requests.emplace(id, std::move(p));
  log_accepted(self, id, prompt_tokens, req.max_tokens);
  step(self, sched::request_arrived{id, prompt_tokens, req.max_tokens, now_s(self) + deadline_ms / 1000.0});
}

void accept_submissions(router_self* self, std::vector<submission>& round) {
  auto door = caf::actor_cast<client_door_actor>(self->current_sender());
  if (!door) return;  // an anonymous sender: no door to answer
  const auto from = requester_of_message(self);
  for (size_t i = 0; i < round.size(); ++i) {
    reply_to to{{}, door, round[i].ticket};
    if (i >= kMaxSubmissionsPerMessage)
      answer(self, to, caf::make_error(errc::invalid_argument, "more than " + std::to_string(kMaxSubmissionsPerMessage) +
                                                                   " requests in one message"));
    else
      accept_request(self, round[i].request, from, std::move(to));
  }
}

void door_callers_gone(router_self* self, std::vector<uint64_t>& tickets) {
  auto& st = self->state;
  const auto door = caf::actor_cast<caf::actor_addr>(self->current_sender());
  if (!door || tickets.size() > kMaxDoorWaiting) return;  // more than any door holds
  std::sort(tickets.begin(), tickets.end());
  // Rare (a caller timed out), so a walk over what is in flight rather than a map kept for it
  // on every request.
  for (auto& [id, p] : st.requests) {
    auto& replies = p.replies;
    const auto left = std::remove_if(replies.begin(), replies.end(), [&](const reply_to& to) {
      return to.door && to.door.address() == door && std::binary_search(tickets.begin(), tickets.end(), to.ticket);
    });
    if (left == replies.end()) continue;
    replies.erase(left, replies.end());
    if (std::any_of(replies.begin(), replies.end(), [&](const reply_to& to) { return to.door && to.door.address() == door; }))
      continue;  // a retry through the same door still waits
    if (st.requesters.left(id, door)) self->demonitor(door);
    if (st.requesters.waited_for(id)) continue;
    spdlog::info("router: request {}: its caller at a client door stopped waiting", id);
    self->delayed_send(self, kOrphanGrace, atoms::orphan_atom::value, id);
  }
}

namespace {
door_answer& answer_slot(router_self* self, reply_to& to) {
  auto& round = self->state.door_answers.add(self)[to.door.address()];
  round.door = to.door;
  round.answers.push_back({to.ticket, {}, {}});
  return round.answers.back();
}
}  // namespace

void answer(router_self* self, reply_to& to, const generate_result& out) {
  if (to.door) answer_slot(self, to).result = out;
  else to.promise.deliver(out);
}

void answer(router_self* self, reply_to& to, caf::error err) {
  if (to.door) answer_slot(self, to).error = std::move(err);
  else to.promise.deliver(std::move(err));
}

void send_door_answers(router_self* self) {
  auto& st = self->state;
  st.door_answers.flushed();
  if (auto rounds = st.door_answers.take())
    for (auto& [addr, round] : *rounds) self->send(round.door, std::move(round.answers));
}

void prefill_held_at(router_self* self, const held_prefill& m) {
  const auto node = core_of(self).node_by_name(node_of_sender(self));
  if (!node || core_of(self).node(*node).desc.kind != sched::node_kind::prefill) {
    spdlog::warn("router: dropped a prefill node's word on request {} from a peer that is no registered prefill node",
                 m.request);
    return;
  }
  step(self, sched::prefill_held{m.request, m.attempt, *node});
  if (const auto* v = core_of(self).find(m.request); v && v->prefill_node == *node && v->attempt == m.attempt)
    spdlog::info("router: request {}: its prefill is {}'s", m.request, core_of(self).node(*node).desc.name);
}

std::vector<uint64_t> take_over(router_self* self, held_report& m) {
  auto& st = self->state;
  std::vector<uint64_t> taken;
  if (!sent_by(self, m.node)) {
    spdlog::warn("router: dropped a report of held requests for {} sent by another process", m.node);
    return taken;
  }
  const auto node = core_of(self).node_by_name(m.node);
  if (!node || core_of(self).node(*node).desc.kind != sched::node_kind::decode ||
      m.requests.size() > kMaxResultsPerMessage)
    return taken;
  for (auto& h : m.requests) {
    if (const auto* v = core_of(self).find(h.request)) {
      if (v->decode_node == *node && v->attempt == h.attempt) taken.push_back(h.request);  // told twice
      continue;
    }
    // No client id: no retry could find it.  Its client started again here, or has its answer.
    const auto& c = st.clients;
    if (h.client_id.empty() || c.in_flight(h.client_id) || c.result(h.client_id) || c.failure_of(h.client_id)) continue;
    try {
      model::check_request(st.options.model, h.prompt.size(), h.max_tokens);
      check_decoding(st.options.model.vocab, h.prompt, h.how);
      if (h.output.size() > static_cast<size_t>(h.max_tokens))
        throw failure(errc::invalid_argument, "more output than its max_tokens");
      check_ids(st.options.model.vocab, h.output, "output token");
      if (h.prefill_node.size() > 256) throw failure(errc::invalid_argument, "a prefill node's name over 256 bytes");
    } catch (const failure& f) {
      spdlog::warn("router: not taking request {} over from {}: {}", h.request, m.node, f.what());
      continue;
    }
    const double now = now_s(self);
    const int prompt_tokens = static_cast<int>(h.prompt.size());
    step(self, sched::request_adopted{h.request, h.attempt, *node, prompt_tokens, h.max_tokens,
                                      h.deadline_ms > 0 ? now + h.deadline_ms / 1000.0 : 0, h.kv_landed,
                                      h.prfaas ? policy::prefill_path::prfaas : policy::prefill_path::local,
                                      h.prefill_node});
    const auto* v = core_of(self).find(h.request);
    if (!v || v->decode_node != *node) continue;  // the core refused it (full)
    if (h.kv_landed)
      spdlog::info("router: request {} taken over from {} (decoding, {} output tokens so far)", h.request, m.node,
                   h.output.size());
    else if (v->prefill_node != sched::kNoNode)  // its prefill node's word came first
      spdlog::info("router: request {} taken over from {} (its KV arriving from {})", h.request, m.node,
                   core_of(self).node(v->prefill_node).desc.name);
    else
      spdlog::info("router: request {} taken over from {} (its KV arriving)", h.request, m.node);
    pending_request p;
    p.client_id = h.client_id;
    p.prompt = std::move(h.prompt);
    p.how = std::move(h.how);
    p.produced.add(0, h.output);
    st.clients.started(h.client_id, h.request, h.owner);
    st.requests.emplace(h.request, std::move(p));
    log_accepted(self, h.request, prompt_tokens, h.max_tokens);
    // Nobody waits for it until its client's retry joins: it ends unless one does in time.
    self->delayed_send(self, 2 * kOrphanGrace, atoms::orphan_atom::value, h.request);
    taken.push_back(h.request);
  }
  if (!m.requests.empty())
    spdlog::info("router: took over {} of the {} requests {} held for the last router", taken.size(),
                 m.requests.size(), m.node);
  step(self, sched::node_reported{*node});  // it is back, as far as settling goes
  return taken;
}

void release_held_back(router_self* self) {
  auto& st = self->state;
  if (core_of(self).awaiting_nodes(now_s(self))) return;
  for (auto& to : std::exchange(st.held_back, {}))
    answer(self, to, caf::make_error(errc::unreachable, "the router was settling after a change of router: send again"));
}

void decode_started_at(router_self* self, const decode_started& m) {
  if (!from_holder(self, m.request, sched::node_kind::decode, "decode start")) return;
  if (const auto* v = core_of(self).find(m.request); v && v->attempt == m.attempt)
    log_of(self).first_token(m.request, m.phases, m.kv_bytes, now_s(self));
  step(self, sched::first_token{m.request, m.kv_bytes, m.attempt, m.kv_held_bytes});
}

void tokens_from_decode(router_self* self, token_chunk& m) {
  if (!from_holder(self, m.request, sched::node_kind::decode, "tokens")) return;
  auto it = self->state.requests.find(m.request);
  const auto* view = core_of(self).find(m.request);
  if (it == self->state.requests.end() || !view || view->attempt != m.attempt) return;
  it->second.produced.add(m.offset, m.tokens);
  if (it->second.stream) self->send(it->second.stream, std::move(m));
}

void decode_result_at(router_self* self, decode_result& m) {
  if (!from_holder(self, m.request, sched::node_kind::decode, "result")) return;
  auto it = self->state.requests.find(m.request);
  const auto* view = core_of(self).find(m.request);
  if (it == self->state.requests.end() || !view || view->attempt != m.attempt) return;  // an abandoned attempt
  it->second.tokens = std::move(m.tokens);
  it->second.stopped = m.stopped;
  it->second.logprobs = std::move(m.logprobs);
  it->second.decode_ms = m.decode_ms;
  step(self, sched::decode_done{m.request, m.attempt});
}

void decode_failed_at(router_self* self, const decode_failed& m) {
  if (!from_holder(self, m.request, sched::node_kind::decode, "failure")) return;
  step(self, sched::request_failed{m.request, m.code, m.error, m.attempt});
}

// The prompt's chain keys matched against the router's copy of the directory's index: the
// answer at once, as the directory would give it (no directory: no hit).
void act(router_self* self, const sched::lookup_cache& c) {
  auto& st = self->state;
  const auto r = st.requests.find(c.id);
  if (r == st.requests.end()) return;
  sched::cache_hits hits;
  if (st.directory_copy)
    hits = hits_of(self, st.directory_copy->match(kv::reusable_chain(r->second.prompt, st.options.model.block_tokens)));
  step(self, sched::cache_answer{c.id, std::move(hits)});
}

namespace {
constexpr int kDispatchesPerLine = 64;  // a round that dispatches more says them in several lines
}  // namespace

void say_dispatched(router_self* self) {
  auto& st = self->state;
  if (st.dispatched == 0) return;
  spdlog::info("router: dispatched {}: {}", st.dispatched, st.dispatch_line);
  st.dispatch_line.clear();
  st.dispatched = 0;
}

void act(router_self* self, const sched::reserve& c) {
  auto& st = self->state;
  const auto& r = st.requests.at(c.id);
  const auto* view = core_of(self).find(c.id);
  if (c.attempt > 0) spdlog::warn("router: request {} dispatched again (attempt {})", c.id, c.attempt + 1);
  fmt::format_to(std::back_inserter(st.dispatch_line), "{}request {} ({} tokens, {} cached) -> {} prefill {} -> decode {}",
                 st.dispatched++ ? "; " : "", c.id, r.prompt.size(), view->cached_tokens, policy::to_string(view->path),
                 core_of(self).node(view->prefill_node).desc.name, core_of(self).node(c.decode).desc.name);
  if (st.dispatched == kDispatchesPerLine) say_dispatched(self);
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
  job.whole_kv = c.whole_kv;
  // For a next router, should this one be lost (held_report).
  job.client_id = p.client_id;
  if (const auto* owner = st.clients.owner_of(id)) job.owner = *owner;
  if (view->deadline_s > 0) job.deadline_ms = std::max(1, static_cast<int>((view->deadline_s - now_s(self)) * 1000));
  job.prfaas = view->path == policy::prefill_path::prfaas;
  job.prefill_node = core_of(self).node(view->prefill_node).desc.name;
  // Answered in the node's decode_news (reserved_at, or a failure); a node lost meanwhile is
  // the core's node_down.
  st.decode_jobs.add(self)[c.decode].push_back(std::move(job));
}

namespace {

// The round's jobs of one kind go, each node's in one message, but a job whose attempt was
// abandoned meanwhile (its node lost, the request ended or dispatched again): `holder` reads the
// node the core gives that part of the request, `role` the node's handle for the jobs.
template <class Job, class Holder, class Role>
void send_jobs(router_self* self, outbox<std::map<sched::node_id, std::vector<Job>>>& box, Holder holder, Role role) {
  box.flushed();
  auto jobs = box.take();
  if (!jobs) return;
  for (auto& [node, list] : *jobs) {
    list.erase(std::remove_if(list.begin(), list.end(),
                              [&](const Job& j) {
                                const auto* v = core_of(self).find(j.request);
                                return !v || v->attempt != j.attempt || holder(*v) != node;
                              }),
               list.end());
    const auto& to = role(handle_of(self, node));
    if (!list.empty() && to) self->send(to, std::move(list));
  }
}

}  // namespace

void send_decode_jobs(router_self* self) {
  send_jobs(self, self->state.decode_jobs, [](const auto& v) { return v.decode_node; },
            [](const node_handles& h) -> const decode_actor& { return h.decode; });
}

void send_prefill_jobs(router_self* self) {
  send_jobs(self, self->state.prefill_jobs, [](const auto& v) { return v.prefill_node; },
            [](const node_handles& h) -> const prefill_actor& { return h.prefill; });
}

// A report or failure of an attempt abandoned meanwhile (re-dispatched, ended) is dropped
// quietly: the node held it when it was sent.
void prefill_reported_at(router_self* self, const prefill_report& rep) {
  const auto* v = core_of(self).find(rep.request);
  if (!v || v->attempt != rep.attempt) return;
  if (!from_holder(self, rep.request, sched::node_kind::prefill, "prefill report")) return;
  log_of(self).prefill_reported(rep.request, rep.phases, rep.kv_bytes);
  step(self, sched::prefill_done{rep.request, rep.cached_tokens, rep.computed_tokens, rep.attempt});
}

void prefill_failed_at(router_self* self, const prefill_failed& m) {
  const auto* v = core_of(self).find(m.request);
  if (!v || v->attempt != m.attempt) return;
  if (!from_holder(self, m.request, sched::node_kind::prefill, "prefill failure")) return;
  const auto& node = core_of(self).node(v->prefill_node).desc.name;
  const auto h = self->state.handles.find(node);
  job_failed(self, m.request, caf::make_error(m.code, m.error), m.attempt, node,
             h == self->state.handles.end() ? caf::actor_addr{} : h->second.role.address());
}

void reserved_at(router_self* self, const reservation& m) {
  if (!from_holder(self, m.request, sched::node_kind::decode, "reservation")) return;
  step(self, sched::reserved{m.request, m.attempt, m.held});
}

void act(router_self* self, const sched::prefill& c) {
  auto& st = self->state;
  const auto id = c.id;
  const int attempt = c.attempt;
  const auto& decode = core_of(self).node(c.decode).desc.name;
  const auto* view = core_of(self).find(id);
  const int left_ms = view->deadline_s > 0 ? std::max(1, static_cast<int>((view->deadline_s - now_s(self)) * 1000)) : 0;
  const auto& p = st.requests.at(id);
  const auto info = st.infos.find(decode);
  if (info == st.infos.end()) {  // never: a node's endpoint is known before the core routes to it
    step(self, sched::request_failed{id, errc::unreachable, "decode node " + decode + " has no known endpoint", attempt});
    return;
  }
  prefill_job job{id, p.resume ? p.resume->prompt : p.prompt, info->second.data_endpoint, left_ms, attempt,
                  p.how, c.decode_held_tokens, p.resume ? p.resume->next_token() : -1};
  log_of(self).prefill_sent(id, now_s(self));
  // Answered in the node's prefill_news (prefill_reported_at, prefill_failed_at); a node lost
  // meanwhile is the core's node_down, a node that never answers the request's deadline.
  st.prefill_jobs.add(self)[c.node].push_back(std::move(job));
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

void act(router_self* self, const sched::reply& c) {
  auto& st = self->state;
  for (const auto& idle : st.requesters.ended(c.id)) self->demonitor(idle);
  auto it = st.requests.find(c.id);
  if (it == st.requests.end()) return;
  pending_request& p = it->second;
  if (!c.ok) {
    spdlog::warn("router: request {} failed: {}: {}", c.id, to_string(c.code), c.why);
    log_of(self).ended(c.id, to_string(c.code), c.why, 0, 0, now_s(self));
    for (auto& to : p.replies) answer(self, to, caf::make_error(c.code, c.why));
    st.clients.failed(p.client_id, c.code, c.why);
  } else {
    const auto& v = c.request;
    generate_result out;
    out.request = c.id;
    out.tokens = std::move(p.tokens);
    out.path = policy::to_string(v.path);
    // A request taken over from a lost router's decode node: its prefill node is not known.
    out.prefill_node = v.prefill_node == sched::kNoNode ? std::string() : core_of(self).node(v.prefill_node).desc.name;
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
    out.logprobs = std::move(p.logprobs);  // the first token's too: it came with the KV
    log_of(self).ended(c.id, "completed", "", static_cast<int>(out.tokens.size()), p.decode_ms, now_s(self));
    if (const auto* t = log_of(self).find(c.id)) out.timeline = *t;
    for (auto& to : p.replies) answer(self, to, out);
    st.clients.completed(p.client_id, out);
  }
  st.requests.erase(it);
}


}  // namespace prfaas::actors::router_parts

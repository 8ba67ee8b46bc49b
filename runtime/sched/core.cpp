#include "runtime/sched/core.h"

#include <algorithm>

namespace prfaas::sched {

const char* to_string(cache_source source) {
  switch (source) {
    case cache_source::none: return "none";
    case cache_source::own: return "own";
    case cache_source::peer: return "peer";
    case cache_source::remote: return "remote";
  }
  return "unknown";
}

const char* to_string(phase p) {
  switch (p) {
    case phase::routing: return "routing";
    case phase::queued: return "queued";
    case phase::reserving: return "reserving";
    case phase::pulling: return "pulling";
    case phase::prefilling: return "prefilling";
    case phase::transferring: return "transferring";
    case phase::decoding: return "decoding";
    case phase::done: return "done";
    case phase::failed: return "failed";
  }
  return "unknown";
}

core::core(core_options options)
    : options_(std::move(options)), awaited_(options_.settle_for.begin(), options_.settle_for.end()) {}

void core::handle(const event& e, double now_s, commands& out) {
  now_ = now_s;
  std::visit([&](const auto& ev) { on(ev, now_s, out); }, e);
  if (std::holds_alternative<tick>(e) && now_s >= options_.settle_until_s) room_freed_ = true;
  if (room_freed_ && !queue_.empty()) drain_queue(out);
  room_freed_ = false;
}

void core::drain_queue(commands& out) {
  // First come, first served: the head waits until it fits, and those behind it wait too.
  if (now_ < options_.settle_until_s) return;
  while (!queue_.empty()) {
    auto it = requests_.find(queue_.front());
    PRFAAS_ASSERT(it != requests_.end() && it->second.ph == phase::queued);
    const auto hits = queued_hits_.at(it->first);
    if (!route(it->second, hits, out, no_room::leave)) return;
    queued_hits_.erase(it->first);
    queue_.pop_front();
  }
}

const request_view* core::find(request_id id) const {
  auto it = requests_.find(id);
  return it == requests_.end() ? nullptr : &it->second;
}

std::optional<node_id> core::node_by_name(const std::string& name) const {
  auto it = names_.find(name);
  if (it == names_.end()) return std::nullopt;
  return it->second;
}

bool core::has_directory() const {
  for (const auto& n : nodes_)
    if (n.up && n.desc.kind == node_kind::cache_directory) return true;
  return false;
}

// ---------------------------------------------------------------------------------------------
// Nodes

void core::on(const node_up& e, double now, commands& out) {
  auto it = names_.find(e.node.name);
  node_id id;
  if (it == names_.end()) {
    if (static_cast<int>(nodes_.size()) >= options_.max_nodes)
      throw failure(errc::no_capacity, "the router holds its maximum of " + std::to_string(options_.max_nodes) +
                                           " nodes");
    id = static_cast<node_id>(nodes_.size());
    nodes_.push_back({});
    names_.emplace(e.node.name, id);
  } else {
    id = it->second;
    // The same name again: the node restarted, and what its last incarnation held is gone.
    if (nodes_[id].up)
      on(node_down{id, std::string(to_string(nodes_[id].desc.kind)) + " node " + e.node.name + " restarted"}, now,
         out);
  }
  node_view& n = nodes_[id];
  n.id = id;
  n.desc = e.node;
  n.up = true;
  n.accepting = true;
  n.staging_full = false;
  n.load = 0;
  n.decoding = 0;
  rebuild_candidates();
  room_freed_ = true;
  // A decode node is back once it said what it holds (node_reported).
  if (e.node.kind != node_kind::decode) settled_for(e.node.name, now);
}

void core::settled_for(const std::string& name, double now) {
  // Every node the previous router held is back: nothing more to settle for.
  if (!awaited_.empty() && awaited_.erase(name) && awaited_.empty() && now < options_.settle_until_s) {
    options_.settle_until_s = now;
    room_freed_ = true;
  }
}

void core::on(const node_reported& e, double now, commands&) {
  if (const auto* n = live_node(e.node)) settled_for(n->desc.name, now);
}

node_view* core::live_node(node_id id) {
  if (id >= 0 && id < static_cast<node_id>(nodes_.size()) && nodes_[id].up) return &nodes_[id];
  ++counters_.stale_events;
  return nullptr;
}

void core::on(const node_down& e, double now, commands& out) {
  node_view* lost = live_node(e.node);
  if (!lost) return;
  node_view& n = *lost;
  // Everything it held ends; the other node of each request is told to let go.
  std::vector<request_id> held;
  for (const auto& [id, r] : requests_)
    if ((r.prefill_node == e.node && (r.holds_prefill || r.ph == phase::reserving)) ||
        (r.decode_node == e.node && r.holds_decode))
      held.push_back(id);
  std::sort(held.begin(), held.end());
  n.up = false;
  n.load = 0;
  n.decoding = 0;
  rebuild_candidates();  // before any re-dispatch: the lost node is no candidate
  const std::string why =
      e.why.empty() ? std::string(to_string(n.desc.kind)) + " node " + n.desc.name + " lost" : e.why;
  for (request_id id : held) {
    auto& r = requests_.at(id);
    // This node is gone: nothing to release or abort on it.
    if (r.prefill_node == e.node) r.holds_prefill = false;
    if (r.decode_node == e.node) r.holds_decode = r.decode_started = false;
    redispatch(r, errc::node_lost, why, now, out);
  }
}

void core::on(const node_drain& e, double, commands&) {
  node_view* n = live_node(e.node);
  if (!n) return;
  n->accepting = false;
  rebuild_candidates();
}

void core::on(const node_staging& e, double, commands&) {
  node_view* n = live_node(e.node);
  if (!n) return;
  n->staging_full = e.full;
  rebuild_candidates();
  if (!e.full) room_freed_ = true;  // requests waiting for a prefill node may go now
}

void core::rebuild_candidates() {
  prefill_candidates_.clear();
  decode_candidates_.clear();
  prefill_ids_.clear();
  decode_ids_.clear();
  candidate_pos_.assign(nodes_.size(), -1);
  levels_ = {};
  for (const auto& [name, id] : names_) {  // name order
    const node_view& n = nodes_[id];
    if (!n.up) continue;
    if (n.desc.kind == node_kind::prefill && n.desc.prfaas) {
      ++levels_.prfaas_prefill;
      levels_.prfaas_held += n.load;
    } else if (n.desc.kind == node_kind::prefill) {
      ++levels_.local_prefill;
      levels_.local_prefill_busy += n.load > 0;
      levels_.accepting_prefill += n.accepting;
    } else if (n.desc.kind == node_kind::decode) {
      levels_.decode_slots += n.desc.slots > 0 ? n.desc.slots : n.desc.capacity;
      levels_.decoding += n.decoding;
      levels_.accepting_decode += n.accepting;
    }
    if (n.desc.kind == node_kind::prefill) {
      candidate_pos_[id] = static_cast<int>(prefill_ids_.size());
      prefill_ids_.push_back(id);
      prefill_candidates_.push_back({n.desc.prfaas, n.load, n.accepting && !n.staging_full, 0});
    } else if (n.desc.kind == node_kind::decode) {
      candidate_pos_[id] = static_cast<int>(decode_ids_.size());
      decode_ids_.push_back(id);
      decode_candidates_.push_back({n.load, n.accepting ? n.desc.capacity : 0});
    }
  }
}

void core::set_load(node_id id, int delta) {
  node_view& n = nodes_[id];
  const int before = n.load;
  n.load += delta;
  PRFAAS_ASSERT(n.load >= 0);
  if (n.up && n.desc.kind == node_kind::prefill) {
    if (n.desc.prfaas) levels_.prfaas_held += delta;
    else levels_.local_prefill_busy += (n.load > 0) - (before > 0);
  }
  const int pos = candidate_pos_[id];
  if (pos < 0) return;
  if (n.desc.kind == node_kind::prefill) prefill_candidates_[pos].in_flight = n.load;
  else if (n.desc.kind == node_kind::decode) decode_candidates_[pos].active = n.load;
}

// ---------------------------------------------------------------------------------------------
// Requests

request_view* core::live(request_id id) {
  auto it = requests_.find(id);
  if (it == requests_.end()) {
    ++counters_.stale_events;
    return nullptr;
  }
  return &it->second;
}

request_view* core::live(request_id id, int attempt) {
  request_view* r = live(id);
  if (r && r->attempt != attempt) {
    ++counters_.stale_events;
    return nullptr;
  }
  return r;
}

void core::redispatch(request_view& r, errc code, const std::string& why, double now, commands& out) {
  // A node that refused for lack of room (its own count, which the core's may not know yet) is
  // worth another attempt too.
  const bool retryable = code == errc::node_lost || code == errc::unreachable || code == errc::transport_failed ||
                         code == errc::no_capacity;
  if (!retryable || r.attempt + 1 >= options_.max_attempts || (r.deadline_s > 0 && now >= r.deadline_s)) {
    fail(r, code, why, out);
    return;
  }
  // Whoever still holds this attempt lets go; the next attempt starts from routing with only
  // the request's own fields: nothing of the last attempt's placement carries over.
  if (r.holds_prefill) out.push_back(abort_request{r.id, r.prefill_node, r.attempt});
  if (r.holds_decode) out.push_back(abort_request{r.id, r.decode_node, r.attempt});
  release_prefill(r);
  release_decode(r);
  ++counters_.redispatched;
  request_view next;
  next.id = r.id;
  next.prompt_tokens = r.prompt_tokens;
  next.max_tokens = r.max_tokens;
  next.accepted_s = r.accepted_s;
  next.deadline_s = r.deadline_s;
  next.attempt = r.attempt + 1;
  r = next;
  start_routing(r, out);
}

void core::start_routing(request_view& r, commands& out) {
  if (options_.use_directory && has_directory()) {
    out.push_back(lookup_cache{r.id});
    return;
  }
  route(r, {}, out);
}

void core::on(const request_arrived& e, double now, commands& out) {
  ++counters_.arrived;
  if (requests_.count(e.id)) {
    // A duplicate id would corrupt the table: refuse it without touching the original.
    out.push_back(reply{e.id, false, errc::invalid_argument, "request " + std::to_string(e.id) + " is already in flight", {}});
    ++counters_.refused;
    return;
  }
  if (static_cast<int>(requests_.size()) >= options_.max_in_flight) {
    out.push_back(reply{e.id, false, errc::no_capacity,
                        "the router holds its maximum of " + std::to_string(options_.max_in_flight) +
                            " requests in flight", {}});
    ++counters_.refused;
    return;
  }
  start_routing(enter(e.id, e.prompt_tokens, e.max_tokens, e.deadline_s, now), out);
}

request_view& core::enter(request_id id, int prompt_tokens, int max_tokens, double deadline_s, double now) {
  request_view& r = requests_[id];
  r.id = id;
  r.prompt_tokens = prompt_tokens;
  r.max_tokens = max_tokens;
  r.accepted_s = now;
  r.deadline_s = deadline_s;
  if (r.deadline_s > 0) deadlines_.emplace(r.deadline_s, r.id);
  return r;
}

void core::on(const request_adopted& e, double now, commands&) {
  node_view* n = live_node(e.decode);
  if (!n) return;
  if (n->desc.kind != node_kind::decode || requests_.count(e.id) ||
      static_cast<int>(requests_.size()) >= options_.max_in_flight) {
    ++counters_.stale_events;
    return;
  }
  request_view& r = enter(e.id, e.prompt_tokens, e.max_tokens, e.deadline_s, now);
  r.attempt = e.attempt;
  r.path = e.path;
  r.decode_node = e.decode;
  r.holds_decode = true;
  set_load(e.decode, +1);
  r.ph = phase::transferring;
  ++counters_.adopted;
  if (e.started) {
    r.ph = phase::decoding;
    r.first_token_s = now;
    set_decoding(r, true);
    return;
  }
  // Its KV still arriving: the word of the prefill node its decode node named (or any, when it
  // named none), if it came first, makes the prefill that node's; else the request waits for it.
  if (!e.prefill_node.empty()) named_prefill_[e.id] = e.prefill_node;
  const auto [first, last] = early_words_.equal_range(e.id);
  std::optional<node_id> word_of;
  for (auto w = first; w != last && !word_of; ++w) {
    const prefill_held& word = w->second.first;
    node_view* n = live_node(word.node);
    if (word.attempt == e.attempt && n && n->desc.kind == node_kind::prefill && named_by_decode(e.id, word.node))
      word_of = word.node;
  }
  early_words_.erase(e.id);
  if (word_of) return take_prefill_word(r, *word_of);
  word_waits_.emplace(now + options_.prefill_word_wait_s, std::make_pair(e.id, e.attempt));
}

bool core::named_by_decode(request_id id, node_id node) const {
  const auto it = named_prefill_.find(id);
  return it == named_prefill_.end() || nodes_[node].desc.name == it->second;
}

void core::take_prefill_word(request_view& r, node_id node) {
  named_prefill_.erase(r.id);
  r.prefill_node = node;
  r.holds_prefill = true;
  set_load(node, +1);
  r.ph = phase::prefilling;
}

void core::on(const prefill_held& e, double now, commands&) {
  node_view* n = live_node(e.node);
  if (!n) return;
  if (n->desc.kind != node_kind::prefill) {
    ++counters_.stale_events;
    return;
  }
  if (!requests_.count(e.id)) {  // its decode node's report may still come
    if (static_cast<int>(early_words_.size()) < options_.max_early_words)
      early_words_.emplace(e.id, std::make_pair(e, now + options_.prefill_word_wait_s));
    else
      ++counters_.stale_events;
    return;
  }
  request_view* r = live(e.id, e.attempt);
  if (!r) return;
  if (r->ph != phase::transferring || r->prefill_node != kNoNode || !named_by_decode(e.id, e.node)) {
    ++counters_.stale_events;
    return;
  }
  take_prefill_word(*r, e.node);
}

void core::on(const cache_answer& e, double, commands& out) {
  request_view* r = live(e.id);
  if (!r) return;
  if (r->ph != phase::routing) { ++counters_.stale_events; return; }
  route(*r, e.hits, out);
}

bool core::route(request_view& r, const cache_hits& hits, commands& out, no_room on_no_room) {
  // A node's own hit counts for cache affinity; the hint never exceeds what leaves a token to
  // compute (the prefill node checks again against its cache).
  const int cap = std::max(0, r.prompt_tokens - 1);
  for (const auto& [id, tokens] : hits.nodes)
    if (id >= 0 && id < static_cast<node_id>(candidate_pos_.size()) && candidate_pos_[id] >= 0 &&
        nodes_[id].desc.kind == node_kind::prefill)
      prefill_candidates_[candidate_pos_[id]].cached_tokens = std::min(cap, tokens);
  // The blocks a decode node holds are KV it need not receive: decode placement prefers it.
  for (const auto& [id, tokens] : hits.held)
    if (id >= 0 && id < static_cast<node_id>(candidate_pos_.size()) && candidate_pos_[id] >= 0 &&
        nodes_[id].desc.kind == node_kind::decode)
      decode_candidates_[candidate_pos_[id]].cached_tokens = std::min(cap, tokens);
  // Without pulls a cluster's hit counts only where a prefill node can start from it: its own.
  int local_hit = hits.local, prfaas_hit = hits.prfaas;
  if (options_.pull_min_tokens == 0 && !hits.nodes.empty()) {
    local_hit = prfaas_hit = 0;
    for (const auto& [id, tokens] : hits.nodes) {
      if (id < 0 || id >= static_cast<node_id>(nodes_.size()) || nodes_[id].desc.kind != node_kind::prefill) continue;
      int& cluster_hit = nodes_[id].desc.prfaas ? prfaas_hit : local_hit;
      cluster_hit = std::max(cluster_hit, tokens);
    }
  }
  const policy::route_request rq{r.prompt_tokens, std::min(cap, local_hit), options_.threshold_tokens,
                                 std::min(cap, prfaas_hit), options_.bandwidth_abundant};
  auto d = policy::route(rq, prefill_candidates_, decode_candidates_);
  // Still settling: wait like a request without room (when there is a queue to wait in).
  if (now_ < options_.settle_until_s && options_.queue_max > 0) d.reset();
  int own_hit = 0, decode_held = 0;
  if (d) {
    own_hit = prefill_candidates_[d->prefill].cached_tokens;
    decode_held = decode_candidates_[d->decode].cached_tokens;
  }
  for (auto& c : prefill_candidates_) c.cached_tokens = 0;
  for (auto& c : decode_candidates_) c.cached_tokens = 0;
  // The best hit elsewhere that this request may use: the same cluster always, the other one
  // only when bandwidth is abundant (PAPER.md §6: the longer cache is moved across first).
  node_id source = kNoNode;
  int source_hit = 0;
  if (d && options_.pull_min_tokens > 0) {
    const node_id chosen = prefill_ids_[d->prefill];
    for (const auto& [id, tokens] : hits.nodes) {
      if (id == chosen || id < 0 || id >= static_cast<node_id>(nodes_.size()) || !nodes_[id].up) continue;
      if (nodes_[id].desc.kind == node_kind::cache_directory) continue;  // prefill and decode nodes cache
      if (nodes_[id].desc.prfaas != nodes_[chosen].desc.prfaas && !options_.bandwidth_abundant) continue;
      const int hit = std::min(cap, tokens);
      if (hit > source_hit) { source = id; source_hit = hit; }
    }
    if (source_hit < own_hit + options_.pull_min_tokens) source = kNoNode;
  }
  if (!d) {
    if (on_no_room == no_room::leave) return false;
    // Waiting also covers nodes not registered yet (a restarted router rebuilding its view):
    // the request goes when they come, or ends at its deadline.
    if (static_cast<int>(queue_.size()) < options_.queue_max) {
      r.ph = phase::queued;
      queue_.push_back(r.id);
      queued_hits_[r.id] = hits;
    } else if (prefill_ids_.empty() || decode_ids_.empty()) {
      fail(r, errc::no_capacity, prefill_ids_.empty() ? "no prefill node is registered" : "no decode node is registered",
           out);
    } else {
      fail(r, errc::no_capacity,
           options_.queue_max > 0 ? "no node has room and the admission queue holds its maximum of " +
                                        std::to_string(options_.queue_max) + " requests"
                                  : "no prefill node accepting work or no decode node with room",
           out);
    }
    return false;
  }
  r.path = d->path;
  r.prefill_node = prefill_ids_[d->prefill];
  r.decode_node = decode_ids_[d->decode];
  r.uncached_tokens = d->uncached_tokens;
  r.cached_tokens = own_hit;
  r.source = own_hit > 0 ? cache_source::own : cache_source::none;
  if (source != kNoNode) {
    r.pull_from = source;
    r.pull_tokens = source_hit;
  }
  r.holds_decode = true;
  set_load(r.decode_node, +1);
  // Nothing to pull and, by the directory's word, nothing of the prompt on the decode node: the
  // reservation's answer cannot change the prefill job, so both go at once, a round trip fewer
  // before the prefill starts (the decode node's receiver holds KV that outruns its reservation
  // for a moment, transport/transfer_registry.h).  Without a directory the answer is the only
  // word on what the decode node holds: one after the other.
  if (options_.reserve_with_prefill && source == kNoNode && decode_held == 0 && options_.use_directory &&
      has_directory()) {
    r.reservation_pending = true;
    r.holds_prefill = true;
    set_load(r.prefill_node, +1);
    r.ph = phase::prefilling;
    out.push_back(reserve{r.id, r.decode_node, r.attempt, true});
    out.push_back(prefill{r.id, r.prefill_node, r.decode_node, r.path, r.uncached_tokens, r.cached_tokens, r.attempt, 0});
    return true;
  }
  r.ph = phase::reserving;
  out.push_back(reserve{r.id, r.decode_node, r.attempt});
  return true;
}

void core::on(const reserved& e, double, commands& out) {
  request_view* r = live(e.id, e.attempt);
  if (!r) return;
  if (r->reservation_pending) {  // the prefill job is on its way already
    r->reservation_pending = false;
    return;
  }
  if (r->ph != phase::reserving) { ++counters_.stale_events; return; }
  r->decode_held_tokens = std::clamp(e.held_tokens, 0, std::max(0, r->prompt_tokens - 1));
  r->holds_prefill = true;  // receiving a pulled prefix occupies the prefill node too
  set_load(r->prefill_node, +1);
  if (r->pull_from != kNoNode && nodes_[r->pull_from].up) {
    r->ph = phase::pulling;
    out.push_back(pull_cache{r->id, r->pull_from, r->prefill_node, r->pull_tokens, r->attempt});
    return;
  }
  r->pull_from = kNoNode;
  r->pull_tokens = 0;
  r->ph = phase::prefilling;
  out.push_back(prefill{r->id, r->prefill_node, r->decode_node, r->path, r->uncached_tokens, r->cached_tokens,
                        r->attempt, r->decode_held_tokens});
}

void core::on(const cache_pulled& e, double, commands& out) {
  request_view* r = live(e.id, e.attempt);
  if (!r) return;
  if (r->ph != phase::pulling) { ++counters_.stale_events; return; }
  r->pull_tokens = e.tokens;  // 0: the pull failed, the prefill recomputes
  if (e.tokens > r->cached_tokens) r->cached_tokens = e.tokens;
  r->ph = phase::prefilling;
  out.push_back(prefill{r->id, r->prefill_node, r->decode_node, r->path, r->uncached_tokens, r->cached_tokens,
                        r->attempt, r->decode_held_tokens});
}

void core::on(const prefill_done& e, double, commands& out) {
  request_view* r = live(e.id, e.attempt);
  if (!r) return;
  if (!r->holds_prefill) { ++counters_.stale_events; return; }
  release_prefill(*r);
  r->cached_tokens = e.cached_tokens;
  r->computed_tokens = e.computed_tokens;
  r->source = e.cached_tokens > 0 ? cache_source::own : cache_source::none;
  // What the prefill reused came from the pull when the pull brought at least that much.
  if (r->pull_from != kNoNode && r->pull_tokens > 0 && e.cached_tokens > 0 && e.cached_tokens <= r->pull_tokens)
    r->source = nodes_[r->pull_from].desc.prfaas == nodes_[r->prefill_node].desc.prfaas ? cache_source::peer
                                                                                          : cache_source::remote;
  if (r->ph == phase::prefilling) r->ph = phase::transferring;
  if (r->decode_finished) complete(*r, out);
}

void core::on(const first_token& e, double now, commands&) {
  request_view* r = live(e.id, e.attempt);
  if (!r) return;
  if (r->ph != phase::prefilling && r->ph != phase::transferring) { ++counters_.stale_events; return; }
  r->ph = phase::decoding;
  if (r->holds_decode) set_decoding(*r, true);
  r->first_token_s = now;
  r->kv_bytes = e.kv_bytes;
  r->kv_held_bytes = e.kv_held_bytes;
}

void core::on(const decode_done& e, double, commands& out) {
  request_view* r = live(e.id, e.attempt);
  if (!r) return;
  if (r->ph != phase::decoding || r->decode_finished) { ++counters_.stale_events; return; }
  r->decode_finished = true;
  release_decode(*r);
  if (!r->holds_prefill) complete(*r, out);
}

void core::on(const request_failed& e, double now, commands& out) {
  request_view* r = live(e.id, e.attempt);
  if (!r) return;
  redispatch(*r, e.code, e.why, now, out);
}

void core::on(const tick&, double now, commands& out) {
  // Taken over with its KV arriving and no prefill node's word: its prefill may never run.
  while (!word_waits_.empty() && word_waits_.begin()->first <= now) {
    const auto [id, attempt] = word_waits_.begin()->second;
    word_waits_.erase(word_waits_.begin());
    named_prefill_.erase(id);
    auto it = requests_.find(id);
    if (it == requests_.end()) continue;
    request_view& r = it->second;
    if (r.attempt != attempt || r.ph != phase::transferring || r.prefill_node != kNoNode) continue;  // moved on
    redispatch(r, errc::unreachable, "no prefill node holds the prefill the last router started", now, out);
  }
  for (auto it = early_words_.begin(); it != early_words_.end();)
    it = it->second.second <= now ? early_words_.erase(it) : std::next(it);
  while (!deadlines_.empty() && deadlines_.begin()->first <= now) {
    const request_id id = deadlines_.begin()->second;
    auto it = requests_.find(id);
    PRFAAS_ASSERT(it != requests_.end());
    request_view& r = it->second;
    const int waited_ms = static_cast<int>((now - r.accepted_s) * 1000);
    fail(r, errc::deadline_exceeded,
         "request " + std::to_string(id) + " passed its deadline after " + std::to_string(waited_ms) + " ms", out);
  }
}

void core::on(const policy_update& e, double, commands&) {
  options_.threshold_tokens = e.threshold_tokens;
  options_.bandwidth_abundant = e.bandwidth_abundant;
}

void core::release_prefill(request_view& r) {
  if (!r.holds_prefill) return;
  r.holds_prefill = false;
  set_load(r.prefill_node, -1);
  room_freed_ = true;
}

void core::set_decoding(request_view& r, bool started) {
  if (r.decode_started == started) return;
  r.decode_started = started;
  node_view& n = nodes_[r.decode_node];
  n.decoding += started ? 1 : -1;
  PRFAAS_ASSERT(n.decoding >= 0);
  if (n.up) levels_.decoding += started ? 1 : -1;
}

void core::release_decode(request_view& r) {
  if (!r.holds_decode) return;
  set_decoding(r, false);
  r.holds_decode = false;
  set_load(r.decode_node, -1);
  room_freed_ = true;
}

void core::complete(request_view& r, commands& out) {
  r.ph = phase::done;
  ++counters_.completed;
  out.push_back(reply{r.id, true, errc::internal, {}, r});
  forget(r);
}

void core::fail(request_view& r, errc code, const std::string& why, commands& out) {
  // Whoever still holds it drops it: the prefill stops streaming, the decode frees its sequence.
  if (r.holds_prefill) out.push_back(abort_request{r.id, r.prefill_node, r.attempt});
  if (r.holds_decode) out.push_back(abort_request{r.id, r.decode_node, r.attempt});
  release_prefill(r);
  release_decode(r);
  r.ph = phase::failed;
  ++counters_.failed;
  out.push_back(reply{r.id, false, code, why, r});
  forget(r);
}

void core::forget(request_view& r) {
  if (r.deadline_s > 0) deadlines_.erase({r.deadline_s, r.id});
  if (queued_hits_.erase(r.id)) queue_.erase(std::find(queue_.begin(), queue_.end(), r.id));
  requests_.erase(r.id);  // r dangles from here on
}

}  // namespace prfaas::sched

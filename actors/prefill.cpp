// Prefill role: runs the model over a prompt, starting from the longest hit in the node's prefix
// cache, and streams each layer's KV to the decode node the router chose as soon as the layer is
// done (the prefill hook posts it; the link's connection threads put it on the wire while the
// next layer computes).  A finished sequence goes to the KV staging area (transport/kv_staging.h)
// and the node takes its next job while the KV crosses: the report goes to the router when the
// receiver confirmed the last byte.  A full staging area makes the node wait for its oldest
// transfers before computing, and tells the router (staging_report) to send it nothing new.
// After each prefill it sends the cache directory what its cache inserted and evicted (straight,
// not through the router).  Spawned detached: a prefill holds its thread for the
// length of the computation; jobs queue in the node, and its mailbox is read between batches.
// A linked reporter actor sends the router the node's link telemetry when
// transport::telemetry_gate says it is worth telling.
//
//   prefill jobs (a round's from the router, one way), each queued; step --> the next batch
//   (node.prefill_token_budget: queued jobs within the budget, prefilled one after another,
//   completed together; 0: one job), each:
//   prefill_job --> [room in staging; engine prefill, hook -> link.send_payloads; done] --> staged
//   staged --confirmed (looked at between layers, after each job, every 5 ms while any)--> a report
//   the router lost: its queued jobs run on; registered with the next (republish_atom), the node
//   tells it which it holds (prefill_news holding), so the requests it takes over from their
//   decode nodes are not prefilled again
//   reports and failures --> prefill_news to the router: what one job, one look between layers or
//                      one tick gathered, in one message
//                   cache delta --> cache_update to the cache directory
//   (republish_atom, directory) from the router --> the whole cache to that directory, reset =
//                      true (registered, or a directory registered); the reporter reports again
//   cache_pull --> [receiver armed] --kv complete--> into the cache, cache_pulled to the router
//   cache_push --> restore from the cache, send it to the pulling node --> tokens sent
//   reporter: tick --> link_pool.snapshot(), telemetry_gate --> link_report to the router

#include <caf/all.hpp>
#include <spdlog/spdlog.h>

#include <chrono>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <thread>
#include <utility>

#include "actors/cache_update.hpp"
#include "actors/directory_link.hpp"
#include "actors/kv_plane.hpp"
#include "actors/actor_plane.hpp"
#include "actors/messages.hpp"
#include "actors/outbox.hpp"
#include "actors/roles.hpp"
#include "runtime/kv/block_pool.h"
#include "runtime/kv/prefix_cache.h"
#include "runtime/engine/engine.h"
#include "runtime/transport/kv_staging.h"
#include "runtime/transport/link_pool.h"
#include "runtime/transport/prefix_move.h"
#include "runtime/transport/transfer.h"

namespace prfaas::actors {
namespace {

// The reporter's interface: a new router (null: none), and its own tick.
using link_reporter_actor = caf::typed_actor<caf::reacts_to<atoms::router_atom, caf::actor>, caf::reacts_to<atoms::tick_atom>>;

struct reporter_state {
  transport::telemetry_gate gate;  // when a report is worth sending (runtime/transport/link_stats.h)
  router_actor router;
  std::optional<link_report> last;  // the last one made
  static inline const char* name = "link-reporter";
};

// `egress`: the node's user-space pacer (null: none).  While it paces (an emulated link, or a
// chaos rate), the link's rate is the one said, and nothing is reported as measured.
link_reporter_actor::behavior_type link_reporter(link_reporter_actor::stateful_base<reporter_state>* self,
                                                 std::shared_ptr<transport::link_pool> links, caf::actor router,
                                                 node_info info, double capacity_gbps,
                                                 std::shared_ptr<transport::pacer> egress) {
  self->state.router = caf::actor_cast<router_actor>(router);
  self->send(self, atoms::tick_atom::value);
  return {
      // A new router, or the node registered (again): the router hears the last report now,
      // whatever it says (one sent before the registration was dropped by the router).
      [=](atoms::router_atom, caf::actor router) {
        auto& st = self->state;
        st.router = caf::actor_cast<router_actor>(router);
        st.gate.forget();
        if (!st.router || !st.last) return;
        self->send(st.router, *st.last);
        st.gate.told(std::chrono::steady_clock::now());
      },
      [=](atoms::tick_atom) {
        auto& st = self->state;
        const auto now = std::chrono::steady_clock::now();
        const auto sum = transport::summarize(links->snapshot());
        const auto look = st.gate.look(sum, now);
        self->delayed_send(self, look.next, atoms::tick_atom::value);
        link_report r;
        r.node = info.name;
        r.prfaas = info.prfaas;
        r.egress_gbps = look.egress_gbps;
        r.capacity_gbps = capacity_gbps;
        r.bytes_in_flight = static_cast<int64_t>(sum.bytes_in_flight);
        r.links = sum.links;
        r.connections = sum.connections;
        r.rtt_us = sum.worst_rtt_us;
        r.retransmits = sum.retransmits;
        r.cwnd = sum.smallest_cwnd;
        r.delivery_rate_bps = sum.delivery_rate_bps;
        r.measured_gbps = !egress || egress->gbps() <= 0 ? look.measured_gbps : 0;
        r.bdp_bytes = sum.largest_bdp_bytes;
        r.wanted_connections = sum.most_wanted_connections;
        st.last = r;
        if (!st.router || !look.tell) return;
        self->send(st.router, r);
        st.gate.told(now);
      },
  };
}

// One job between its prefill and its completion.  Its KV stays in `kv` until the receiver
// confirmed it (it waits in the staging area meanwhile): the destructor makes the link forget
// the request's frames before the blocks go back to the pool, whatever happened.
struct prefill_member {
  prefill_job job;
  std::shared_ptr<transport::carrier_link> link;
  std::chrono::steady_clock::time_point taken;  // the node took the job (its timeline's zero)
  std::chrono::steady_clock::time_point t0, deadline;
  sched::prefill_phases phases;
  std::unique_ptr<kv::sequence_kv> kv;
  std::unique_ptr<transport::sequence_transfer> src;
  engine::prefill_output out;
  caf::error error;  // set: the job failed
  prefill_member(prefill_job j, std::chrono::steady_clock::time_point taken) : job(std::move(j)), taken(taken) {}
  double since_taken_ms() const {
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - taken).count();
  }
  ~prefill_member() {
    if (link) link->forget(transport::transfer_key(job.request, job.attempt));
  }
};

// A staged job: its KV crossing, its report waiting for the receiver's confirmation.
struct staged_job {
  std::unique_ptr<prefill_member> member;
};
using staging_area = transport::kv_staging<staged_job>;

struct prefill_state {
  node_info self;
  std::shared_ptr<engine::engine> engine;     // a model (built-in or a checkpoint) or an emulated profile
  kv::layout kv_layout;                      // the engine's, once
  std::shared_ptr<kv::block_pool> pool;
  std::shared_ptr<kv::prefix_cache> cache;  // after the pool: it releases blocks into it
  // Prefixes on their way here, with the router's attempt (echoed in cache_pulled).
  std::map<uint64_t, std::pair<std::unique_ptr<transport::pulled_prefix>, int32_t>> pulls;
  std::unique_ptr<transport::carrier_listener> receiver;  // after pulls: its threads write into them
  bool published = false;                   // the first update resets what the directory held
  directory_link directory;  // where cache updates go (the router names it)
  router_actor router;
  // The router served before the last change: its jobs still queued here are run (their decode
  // nodes hold the reservations a new router takes over), between the new router's messages.
  caf::actor_addr lost_router;
  link_reporter_actor reporter;
  std::shared_ptr<transport::link_pool> links;
  worker_context context;                    // cancellations, fault points
  transport::link_options lo;                // of its KV links (timeouts bound a job's wait)
  // Jobs waiting for the batch in progress to end (node.prefill_token_budget > 0: a batch's
  // prompts within it; 0: one job a batch).
  long token_budget = 0;
  struct waiting {
    prefill_job job;
    std::chrono::steady_clock::time_point taken;
  };
  std::deque<waiting> pending;
  bool batch_due = false;                    // a step is on its way to take the next batch
  std::unique_ptr<staging_area> staging;     // finished sequences whose KV is crossing
  bool staging_look_due = false;             // a tick is on its way to look at it
  bool told_full = false;                    // the router heard "full" last
  bool tell_held = false;                    // a new router: it hears the jobs held once registered
  outbox<prefill_news> news;                 // reports and failures not yet sent (send_news)
  static inline const char* name = "prefill";
};

using prefill_self = prefill_actor::stateful_base<prefill_state>;

// After every prefill (even with nothing new: the statistics moved) and on request, straight to
// the directory the router named.
void publish(prefill_self* self, kv::cache_delta delta, bool reset) {
  auto& st = self->state;
  if (!st.directory.handle) return;  // none yet: the router's republish brings the whole cache
  const bool first = !st.published;
  st.published = true;
  self->send(st.directory.handle, make_cache_update(st.self, *st.cache, std::move(delta), reset || first));
}

// A pull ended, well (its prefix goes into the cache) or not (the prefill recomputes it).
void pull_ended(prefill_self* self, uint64_t id, bool ok, const std::string& why) {
  auto& st = self->state;
  auto it = st.pulls.find(id);
  if (it == st.pulls.end()) return;
  int tokens = 0;
  const int32_t attempt = it->second.second;
  if (ok) {
    it->second.first->commit(*st.cache);
    tokens = it->second.first->tokens();
    publish(self, st.cache->take_delta(), false);
    spdlog::info("{}: request {}: {} cached tokens pulled in", st.self.name, id, tokens);
  } else {
    st.receiver->cancel(id);
    spdlog::warn("{}: request {}: pulling its cached prefix failed ({}); it will be recomputed", st.self.name, id, why);
  }
  st.pulls.erase(it);
  if (st.router) self->send(st.router, cache_pulled{id, tokens, attempt});
}

void look_at_staging(prefill_self* self);

// Jobs in one message of the router: one round's, far below this.
constexpr size_t kMaxPrefillJobsPerMessage = 4096;

// The job's failure, for the router's next news.
void job_failed(prefill_self* self, const prefill_job& job, const caf::error& err) {
  self->state.news.gather().failed.push_back({job.request, job.attempt, static_cast<errc>(err.code()), error_words(err)});
}

// What was gathered goes to the router now (or when the news gap ends: outbox.hpp): after each
// job, each look at the staging area (between layers too: a long prefill holds the mailbox),
// each batch.
void send_news(prefill_self* self) {
  auto& st = self->state;
  auto news = st.news.take(self);
  if (news && st.router) self->send(st.router, std::move(*news));  // no router: the next re-dispatches
}

// Blocks of the prompt the decode node holds (checked when the job came: whole blocks, less than
// the prompt).
int held_blocks_of(const prefill_state& st, const prefill_job& job) {
  return job.decode_held_tokens / st.kv_layout.block_tokens;
}

// The prefill itself: KV streams to the decode node layer by layer as it becomes final.
void compute(prefill_self* self, prefill_member& m, const transport::link_options& lo) {
  auto& st = self->state;
  const auto& job = m.job;
  const auto& cancels = st.context.cancels;
  m.t0 = std::chrono::steady_clock::now();
  m.phases.started_ms = m.since_taken_ms();
  // The job carries the request's deadline: past it, or once the request is cancelled, stop
  // after the layer in progress (the router has already failed or re-dispatched it).
  m.deadline = job.deadline_ms > 0 ? m.t0 + std::chrono::milliseconds(job.deadline_ms)
                                   : m.t0 + 2 * lo.receive_timeout + lo.resume_timeout;
  const int layers = st.engine->layout().n_layers;
  const int delay_ms = st.context.faults ? st.context.faults->options().delay_layer_ms : 0;
  auto after_layer = [&](int layer) {
    if (delay_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));  // fault point
    look_at_staging(self);  // earlier jobs' KV confirmed meanwhile: their reports go now
    send_news(self);
    const std::string where = "prefill stopped after layer " + std::to_string(layer) + " of " + std::to_string(layers);
    if (cancels && cancels->cancelled(job.request, job.attempt))
      throw failure(errc::cancelled, where + ": the request was cancelled");
    if (job.deadline_ms <= 0) return;
    const auto now = std::chrono::steady_clock::now();
    if (now <= m.deadline) return;
    const double late_ms = std::chrono::duration<double, std::milli>(now - m.deadline).count();
    throw failure(errc::deadline_exceeded,
                  where + ", " + std::to_string(static_cast<int>(late_ms)) + " ms past the request's deadline");
  };
  try {
    if (cancels && cancels->cancelled(job.request, job.attempt))  // while it queued
      throw failure(errc::cancelled, "request " + std::to_string(job.request) + " was cancelled before its prefill started");
    spdlog::info("{}: request {} (attempt {}): prefill of {} tokens started", st.self.name, job.request, job.attempt,
                 job.prompt.size());
    m.link = st.links->get(job.decode_endpoint);
    spdlog::info("{}: request {}: KV link to {} up", st.self.name, job.request, job.decode_endpoint);
    m.kv = std::make_unique<kv::sequence_kv>(st.kv_layout, *st.pool);
    // Frames carry the prompt's length while chunks stream before the prefill ends; the blocks
    // the decode node holds already are left out (its view numbers the rest from 0).
    const int held = held_blocks_of(st, job);
    m.src = std::make_unique<transport::sequence_transfer>(*m.kv, static_cast<int>(job.prompt.size()), held);
    const auto sampling = sampling_of(job.how);  // the first token is this node's to choose
    m.out = st.engine->prefill(st.cache.get(), job.prompt, *m.kv,
                               [&](int layer, int first, int end) {
                                 const auto [from, to] = m.src->view_range(layer, first, end);
                                 if (from >= to) return;  // the decode node holds these blocks
                                 m.link->send_payloads(transport::transfer_key(job.request, job.attempt), *m.src, layer,
                                                       from, to);
                                 if (m.phases.first_kv_ms < 0) m.phases.first_kv_ms = m.since_taken_ms();
                               },
                               after_layer, &sampling);
    m.phases.computed_ms = m.since_taken_ms();
    // A resumed request's first token is the last one its lost decode node produced.
    if (job.next_token >= 0) m.out.first_token = job.next_token;
  } catch (const failure& f) {
    spdlog::warn("{}: request {} failed: {}", st.self.name, job.request, f.what());
    m.error = caf::make_error(f.code(), st.self.name + ": " + f.what());
  }
}

// The router hears when the staging area fills up (it sends this node nothing new) and when it
// has room again.
void tell_staging(prefill_self* self, bool full) {
  auto& st = self->state;
  if (st.told_full == full) return;
  st.told_full = full;
  if (!st.router) return;
  staging_report r{st.self.name, full, static_cast<int64_t>(st.staging->used_bytes()),
                   static_cast<int64_t>(st.staging->capacity_bytes()), static_cast<int32_t>(st.staging->size())};
  self->send(st.router, std::move(r));
}

// A staged job's transfer ended: its report, or the transfer's failure, to the router.
void deliver(prefill_self* self, staging_area::ended e) {
  auto& st = self->state;
  auto& m = *e.held.member;
  const auto& job = m.job;
  if (e.error) {
    spdlog::warn("{}: request {} failed: {}", st.self.name, job.request, e.error->what());
    job_failed(self, job, caf::make_error(e.error->code(), st.self.name + ": " + e.error->what()));
    return;
  }
  m.phases.last_kv_ms = m.since_taken_ms();
  prefill_report rep;
  rep.phases = m.phases;
  rep.request = job.request;
  rep.attempt = job.attempt;
  rep.kv_bytes = static_cast<int64_t>(e.payload_bytes);
  rep.prefill_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - m.t0).count();
  rep.cached_tokens = m.out.cached_tokens;
  rep.computed_tokens = m.out.computed_tokens;
  spdlog::info("{}: request {} prefilled {} tokens ({} from the cache) in {:.0f} ms, {} KV bytes to {} in {:.0f} ms "
               "after its prefill", st.self.name, job.request, job.prompt.size(), m.out.cached_tokens,
               m.phases.computed_ms - m.phases.started_ms, rep.kv_bytes, job.decode_endpoint,
               m.phases.last_kv_ms - m.phases.computed_ms);
  st.news.gather().reports.push_back(std::move(rep));
}

// Ended transfers leave the staging area; while any is left, a tick comes back to look again
// (the prefill hook looks between layers too).
void look_at_staging(prefill_self* self) {
  auto& st = self->state;
  for (auto& e : st.staging->reap()) deliver(self, std::move(e));
  if (st.staging->empty() || st.staging_look_due) return;
  st.staging_look_due = true;
  self->delayed_send(self, std::chrono::milliseconds(5), atoms::tick_atom::value);
}

// The KV a job sends, known before its prefill: the prompt's, less what the decode node holds.
long kv_bytes_of(const prefill_state& st, const prefill_job& job) {
  return st.kv_layout.sequence_bytes(static_cast<int>(job.prompt.size()), held_blocks_of(st, job));
}

// Before a prefill: room in the staging area for `bytes` of KV, waiting for the oldest transfers
// while there is none (the router hears that the node is full meanwhile).
void make_room(prefill_self* self, long bytes) {
  auto& st = self->state;
  if (st.staging->fits(static_cast<uint64_t>(bytes))) return;
  tell_staging(self, true);
  spdlog::info("{}: KV staging full ({} of {} MiB held by {} sequences crossing): the next prefill waits for the link",
               st.self.name, st.staging->used_bytes() >> 20, st.staging->capacity_bytes() >> 20, st.staging->size());
  while (!st.staging->fits(static_cast<uint64_t>(bytes)))
    if (auto e = st.staging->wait_oldest()) deliver(self, std::move(*e));
  tell_staging(self, false);
}

// After the prefill: the last frame posted, the cache's news sent, and the sequence staged
// until the receiver confirms it; the node is free for its next job.
void stage(prefill_self* self, std::unique_ptr<prefill_member> m) {
  auto& st = self->state;
  const auto& job = m->job;
  if (m->error) {
    job_failed(self, job, m->error);
    return;
  }
  try {
    // The first token's log-probabilities travel with it to the decode node, which reports them
    // with its output (a router taking the request over never saw this node's report).
    std::optional<model::token_logprobs> first_logprobs;
    if (job.how.logprobs >= 0 && job.next_token < 0) first_logprobs = m->out.first_logprobs;
    m->link->send_done(transport::transfer_key(job.request, job.attempt), static_cast<uint32_t>(m->kv->tokens()),
                       m->out.first_token, std::move(first_logprobs));
  } catch (const failure& f) {
    spdlog::warn("{}: request {} failed: {}", st.self.name, job.request, f.what());
    job_failed(self, job, caf::make_error(f.code(), st.self.name + ": " + f.what()));
    return;
  }
  publish(self, st.cache->take_delta(), false);
  const auto id = transport::transfer_key(job.request, job.attempt);  // the link's id for it
  const auto bytes = static_cast<uint64_t>(kv_bytes_of(st, job));
  const auto deadline = m->deadline;
  auto link = m->link;
  st.staging->add(id, std::move(link), bytes, deadline, staged_job{std::move(m)});
  look_at_staging(self);
}

// Registered with a new router: the last one's jobs still here (queued, or their KV crossing)
// are this node's there too (held_prefill), so a request the new router takes over from its
// decode node is not prefilled again.  What ended meanwhile was reported to nobody: its decode
// node says how far it got.
void tell_jobs_held(prefill_self* self) {
  auto& st = self->state;
  auto& holding = st.news.gather().holding;
  for (const auto& w : st.pending) holding.push_back({w.job.request, w.job.attempt});
  st.staging->for_each([&](const staged_job& s) { holding.push_back({s.member->job.request, s.member->job.attempt}); });
  if (holding.empty()) return;
  spdlog::info("{}: telling the new router about {} prefills the last one dispatched here", st.self.name, holding.size());
  send_news(self);
}

// Why the node will not run `job` (none: it will): cancelled already, or a field out of range.
// The crash_role fault point fires here (node_lost; the caller then quits).
caf::error refusal(prefill_self* self, const prefill_job& job) {
  auto& st = self->state;
  const auto& cancels = st.context.cancels;
  if (cancels && cancels->cancelled(job.request, job.attempt))
    return caf::make_error(errc::cancelled, st.self.name + ": request " + std::to_string(job.request) +
                                                " was cancelled before its prefill started");
  if (st.context.faults && st.context.faults->fire(fault_point::crash_role)) {
    spdlog::warn("{}: fault point crash_role: the role actor dies", st.self.name);
    return caf::make_error(errc::node_lost, st.self.name + ": the role actor crashed");
  }
  if (job.decode_held_tokens < 0 || job.decode_held_tokens % st.kv_layout.block_tokens != 0 ||
      job.decode_held_tokens >= static_cast<int32_t>(job.prompt.size()))
    return caf::make_error(errc::invalid_argument,
                           st.self.name + ": the decode node cannot hold " + std::to_string(job.decode_held_tokens) +
                               " tokens of a " + std::to_string(job.prompt.size()) + "-token prompt (whole blocks of " +
                               std::to_string(st.kv_layout.block_tokens) + " tokens, fewer than the prompt)");
  if (job.next_token < -1 || job.next_token >= st.engine->layout().vocab)
    return caf::make_error(errc::invalid_argument, st.self.name + ": token " + std::to_string(job.next_token) +
                                                       " is not in the model's vocabulary");
  return {};
}

prefill_actor::behavior_type prefill(prefill_self* self, prefill_options o, caf::actor router) {
  ignore_stray_errors(self);
  auto& st = self->state;
  st.self = std::move(o.self);
  PRFAAS_REQUIRE(o.parts.engine && o.parts.pool && o.parts.cache && o.parts.carrier,
                 st.self.name + ": a prefill node needs an engine, a block pool, a cache and a carrier");
  st.engine = std::move(o.parts.engine);
  st.kv_layout = st.engine->layout().kv_layout();
  st.pool = std::move(o.parts.pool);
  st.cache = std::move(o.parts.cache);
  st.router = caf::actor_cast<router_actor>(router);
  // Pulled prefixes land here.
  const auto& context = o.context;
  st.receiver = o.parts.carrier->listen(endpoint{context.data_host, context.data_port},
                                        kv_events_to(self->address()), o.receiver);
  st.self.data_endpoint = context.data_endpoint(st.receiver->port());
  st.context = context;
  st.links = std::make_shared<transport::link_pool>(o.parts.carrier, o.links, o.egress);
  st.lo = o.links;
  st.token_budget = o.token_budget;
  st.staging = std::make_unique<staging_area>(o.staging_bytes);
  st.news = outbox<prefill_news>(o.news_gap);
  const auto& lo = o.links;
  st.reporter = self->spawn<caf::linked>(link_reporter, st.links, router, st.self, lo.capacity_gbps,
                                         lo.pacing_gbps > 0 ? std::make_shared<transport::pacer>(lo.pacing_gbps) : o.egress);
  return {
      [=](atoms::status_atom) { return self->state.self; },
      [=](atoms::router_atom, caf::actor router) {
        auto& st = self->state;
        self->send(st.reporter, atoms::router_atom::value, router);
        if (st.router && st.router.address() != router.address()) st.lost_router = st.router.address();
        st.router = caf::actor_cast<router_actor>(router);
        st.told_full = false;  // a new router hears the next "full" afresh
        st.tell_held = static_cast<bool>(st.router);
        // Pulls the last router started can no longer be used.
        for (auto& [id, pull] : st.pulls) st.receiver->cancel(id);
        st.pulls.clear();
        if (!st.router) spdlog::warn("{}: the router is gone; the jobs it sent run on", st.self.name);
      },
      // Registered (again), or a directory registered: it hears the whole cache, and the
      // router the link's next report whatever it says (one sent before was not heard).
      [=](atoms::republish_atom, const caf::actor& local, const std::string& at) {
        auto& st = self->state;
        follow_directory(self, st.router, st.directory, local, at, [=] {
          auto& st = self->state;
          st.published = static_cast<bool>(st.directory.handle);
          if (st.published) self->send(st.directory.handle, whole_cache_update(st.self, *st.cache));
        });
        if (st.router && self->current_sender() == st.router.address()) {  // not the node's own retry
          self->send(st.reporter, atoms::router_atom::value, caf::actor_cast<caf::actor>(st.router));
          if (std::exchange(st.tell_held, false)) tell_jobs_held(self);
        }
      },
      // A running prefill reads cancellations from the board (the supervisor writes it); here
      // a pull waiting for its prefix ends.
      [=](atoms::abort_atom, uint64_t id, int32_t attempt) {
        auto it = self->state.pulls.find(id);
        if (it != self->state.pulls.end() && it->second.second == attempt) pull_ended(self, id, false, "aborted");
      },
      [=](const cache_pull& m) -> caf::result<caf::ok_atom> {
        auto& st = self->state;
        try {
          auto pull = std::make_unique<transport::pulled_prefix>(st.kv_layout, *st.pool, m.prompt, m.tokens);
          st.receiver->expect(m.request, pull->target());
          st.pulls[m.request] = {std::move(pull), m.attempt};
        } catch (const failure& f) {
          return caf::make_error(f.code(), st.self.name + ": " + f.what());
        }
        return caf::ok_atom::value;
      },
      [=](const kv_event& e) {
        using ev = transport::transfer_event;
        if (e.kind == ev::complete) pull_ended(self, e.request, true, "");
        else if (e.kind == ev::failed) pull_ended(self, e.request, false, e.error);
      },
      [=](const cache_push& m) {
        auto& st = self->state;
        return serve_cache_push(st.self, *st.cache, st.engine->layout(), *st.pool, *st.links, m);
      },
      [=](atoms::tick_atom) {
        self->state.staging_look_due = false;
        look_at_staging(self);
        send_news(self);
      },
      [=](atoms::flush_atom) {  // the news gap ended
        self->state.news.flushed();
        send_news(self);
      },
      [=](std::vector<prefill_job>& jobs) {
        auto& st = self->state;
        const auto from = caf::actor_cast<caf::actor_addr>(self->current_sender());
        const bool from_lost = from && from == st.lost_router && from != st.router.address();
        if (from != st.router.address() && !from_lost) {
          spdlog::warn("{}: dropped {} jobs from a router it never served", st.self.name, jobs.size());
          return;
        }
        if (jobs.size() > kMaxPrefillJobsPerMessage) {
          spdlog::warn("{}: dropped a message of {} jobs (at most {})", st.self.name, jobs.size(), kMaxPrefillJobsPerMessage);
          return;
        }
        for (auto& job : jobs) {
          if (auto why = refusal(self, job)) {
            job_failed(self, job, why);
            if (st.context.faults && why == errc::node_lost) {  // the crash_role fault point fired
              send_news(self);
              self->quit(caf::make_error(caf::sec::runtime_error, "fault point crash_role"));
              return;
            }
            continue;
          }
          if (from_lost && !st.tell_held && st.router)  // the new router heard what is held: this one too
            st.news.gather().holding.push_back({job.request, job.attempt});
          // Jobs queue until the batch in progress ends; the step after them takes the next batch
          // (every job queued before the step was sent is in the queue by then; one job when
          // batching is off).  Messages that came meanwhile are read between batches: a new
          // router's registration, for one, hears every queued job (tell_jobs_held).
          st.pending.push_back({std::move(job), std::chrono::steady_clock::now()});
          if (!st.batch_due) {
            st.batch_due = true;
            self->send(self, atoms::step_atom::value);
          }
        }
        send_news(self);
      },
      // A batch: the oldest jobs whose prompts fit the token budget (one at least), prefilled
      // one after another, all staged (their last frame sent) when the last one's prefill ends,
      // as one batched forward pass would end them together.
      [=](atoms::step_atom) {
        auto& st = self->state;
        st.batch_due = false;
        std::vector<std::unique_ptr<prefill_member>> batch;
        long tokens = 0;
        while (!st.pending.empty()) {
          auto& next = st.pending.front();
          const long t = static_cast<long>(next.job.prompt.size());
          if (!batch.empty() && tokens + t > st.token_budget) break;
          tokens += t;
          batch.push_back(std::make_unique<prefill_member>(next.job, next.taken));
          st.pending.pop_front();
        }
        long bytes = 0;
        for (const auto& m : batch) bytes += kv_bytes_of(st, m->job);
        make_room(self, bytes);
        for (auto& m : batch) compute(self, *m, st.lo);
        for (auto& m : batch) stage(self, std::move(m));
        send_news(self);
        if (!st.pending.empty() && !st.batch_due) {
          st.batch_due = true;
          self->send(self, atoms::step_atom::value);
        }
      },
  };
}

}  // namespace

prefill_actor spawn_prefill(caf::actor_system& sys, prefill_options options, caf::actor router) {
  return sys.spawn<caf::detached>(prefill, std::move(options), std::move(router));
}

prefill_actor spawn_prefill(caf::actor_system& sys, const config::deployment_config& config, node_info self,
                            caf::actor router, worker_context context) {
  return spawn_prefill(sys, prefill_options_for(config, std::move(self), std::move(context)), std::move(router));
}

}  // namespace prfaas::actors

// Decode role: reserves a sequence when the router assigns a request, lands its KV through the
// KV receiver, then decodes it with continuous batching and reports the tokens.  A finished
// sequence (prompt and output) goes into the node's prefix cache, so a conversation's next turn
// can start from it: the router pulls it to the prefill node (cache_push).  A request resumed
// after its decode node was lost comes with its output so far and continues from it
// (sched/resume.h); every sequence's output goes to the router in chunks.  Spawned detached:
// decode steps hold the thread.
//
//   decode_job --> [reserved: receiver armed] --kv complete--> [decoding] --step...--> decode_results
//                  (every sequence a step ended, in one message)
//                        |                                          |
//                        +--kv failed / abort--> decode_failed       +--abort--> dropped
//   done --> prefix cache insert --> cache_update to the cache directory
//   cache_push --> restore from the cache, send it to the pulling node --> tokens sent
//
// The router lost (router_atom): what the node holds is kept and decodes on (results wait);
// registered with the next router (its republish_atom), the node reports what it holds
// (held_report: reserved with its KV awaited, decoding, or ended), the router takes over what a
// client can rejoin, and the node drops the rest.

#include <caf/all.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <memory>
#include <set>

#include "actors/cache_update.hpp"
#include "actors/directory_link.hpp"
#include "actors/kv_plane.hpp"
#include "actors/actor_plane.hpp"
#include "actors/messages.hpp"
#include "actors/outbox.hpp"
#include "actors/roles.hpp"
#include "runtime/kv/block_pool.h"
#include "runtime/engine/decode_batch.h"
#include "runtime/engine/engine.h"
#include "runtime/kv/prefix_cache.h"
#include "runtime/sched/resume.h"
#include "runtime/text/stop_condition.h"
#include "runtime/transport/link_pool.h"
#include "runtime/transport/transfer.h"

namespace prfaas::actors {
namespace {

struct reserved_sequence {
  std::unique_ptr<kv::sequence_kv> kv;
  std::unique_ptr<transport::sequence_transfer> transfer;  // what the receiver writes through
  int max_tokens = 0;
  std::vector<int32_t> prompt;
  int32_t attempt = 0;
  bool stream = false;
  std::chrono::steady_clock::time_point reserved_at;  // its timeline's zero
  decoding how;
  std::vector<int32_t> output;  // resumed: the output so far (empty: a fresh request)
};

// What a next router needs to take a request over, from its decode_job: the report's entry
// less what changes (attempt, time left, output), and its deadline here.
struct takeover_facts {
  held_request entry;
  std::chrono::steady_clock::time_point deadline{};  // epoch: none
};

// A decoding sequence's output on its way to the router: how many tokens went, and when.
struct stream_state {
  size_t sent = 0;
  std::chrono::steady_clock::time_point last{};
  std::chrono::milliseconds period{};
  bool streamed = false;  // its client reads it as it comes (else the result carries it all)
};
// Chunks go at most this often (and at a sequence's end): a chunk per step would be a message
// per token.  A streamed request's reach its client; the others' let the router resume the
// request elsewhere if this node is lost (sched/resume.h).
constexpr auto kStreamPeriod = std::chrono::milliseconds(20);
constexpr auto kCheckpointPeriod = std::chrono::milliseconds(500);

struct decode_state {
  node_info self;
  router_actor router;
  // Declaration order is destruction order reversed: the receiver (whose threads write into
  // reserved sequences) goes first, then the sequences, then the pool they came from.
  std::shared_ptr<engine::engine> engine;
  std::shared_ptr<const text::tokenizer> tokenizer;  // reads stop strings
  std::shared_ptr<kv::block_pool> pool;
  std::shared_ptr<kv::prefix_cache> cache;
  std::map<uint64_t, reserved_sequence> reserved;
  // Of the sequences decoding: their prompts (cache keys) and the router's attempt (echoed).
  std::map<uint64_t, std::pair<std::vector<int32_t>, int32_t>> decoding;
  std::unique_ptr<engine::decode_batch> batch;
  std::map<uint64_t, stream_state> streams;          // of the decoding sequences
  // Take-over: every held request's facts (pruned to those held), the requests held for a lost
  // router and not yet taken over by the next, their results when they ended meanwhile, and
  // whether a report to the next router waits for its answer.
  std::map<uint64_t, takeover_facts> facts;
  std::set<uint64_t> orphans;
  std::map<uint64_t, decode_result> unreported;
  bool reporting = false;
  std::unique_ptr<transport::carrier_listener> receiver;
  std::shared_ptr<transport::link_pool> links;        // pushes of cached prefixes to prefill nodes
  std::shared_ptr<fault_injector> faults;
  bool published = false;
  directory_link directory;  // where cache updates go (the router names it)
  bool stepping = false;
  outbox<decode_news> news;  // for the router: sent at the end of a step, or when the mailbox was read
  static inline const char* name = "decode";
};

using decode_self = decode_actor::stateful_base<decode_state>;

// What the router has not heard yet goes, in one message.
void send_news(decode_self* self) {
  auto& st = self->state;
  if (auto news = st.news.take(self); news && st.router) self->send(st.router, std::move(*news));
}

// Jobs in one message of the router's: a round's, far below this.
constexpr size_t kMaxJobsPerMessage = 4096;

void schedule_step(decode_self* self) {
  if (self->state.stepping || self->state.batch->empty()) return;
  self->state.stepping = true;
  self->send(self, atoms::step_atom::value);
}

// The facts of requests this node no longer holds go (they are kept from the job on; a lost
// router's that ended meanwhile, until the next router heard of them).
void prune_facts(decode_state& st) {
  for (auto it = st.facts.begin(); it != st.facts.end();) {
    const uint64_t id = it->first;
    it = st.reserved.count(id) || st.decoding.count(id) || st.unreported.count(id) ? std::next(it) : st.facts.erase(it);
  }
}

// A request held for the lost router that the next one did not take over: dropped, its room freed.
void drop_orphan(decode_state& st, uint64_t id) {
  if (auto r = st.reserved.find(id); r != st.reserved.end()) {
    st.receiver->cancel(transport::transfer_key(id, r->second.attempt));
    st.reserved.erase(r);
  }
  if (st.decoding.count(id)) {
    st.batch->remove(id);
    st.decoding.erase(id);
    st.streams.erase(id);
  }
  st.unreported.erase(id);
}

// Nothing held for a last router: said once registered all the same (a router settling for its
// predecessor's nodes counts this one back only then).
void report_nothing_held(decode_self* self) {
  self->request(self->state.router, std::chrono::seconds(5), held_report{self->state.self.name, {}})
      .then([](const std::vector<uint64_t>&) {}, [](caf::error&) {});
}

// Registered with a new router (`registered`), or a report answered: what the last one's
// requests reached, for it to take over.
void report_held(decode_self* self, bool registered) {
  auto& st = self->state;
  if (st.reporting || !st.router) return;
  if (st.orphans.empty()) {
    if (registered) report_nothing_held(self);
    return;
  }
  prune_facts(st);
  held_report report{st.self.name, {}};
  std::vector<uint64_t> reported;
  const auto now = std::chrono::steady_clock::now();
  // What decodes or ended, and reservations whose KV is still awaited from the prefill the lost
  // router started (the new one learns which prefill node holds it from that node, or runs it
  // again).  What ended unreported is forgotten.
  for (auto it = st.orphans.begin(); it != st.orphans.end();) {
    const uint64_t id = *it;
    const auto f = st.facts.find(id);
    const auto r = st.reserved.find(id);
    const auto d = st.decoding.find(id);
    const auto u = st.unreported.find(id);
    if (f == st.facts.end() || (r == st.reserved.end() && d == st.decoding.end() && u == st.unreported.end())) {
      it = st.orphans.erase(it);
      continue;
    }
    held_request h = f->second.entry;
    h.kv_landed = r == st.reserved.end();
    h.attempt = r != st.reserved.end() ? r->second.attempt
                : d != st.decoding.end() ? d->second.second
                                         : u->second.attempt;
    if (f->second.deadline != std::chrono::steady_clock::time_point{})
      h.deadline_ms = static_cast<int32_t>(std::max<int64_t>(
          1, std::chrono::duration_cast<std::chrono::milliseconds>(f->second.deadline - now).count()));
    if (r != st.reserved.end()) h.output = r->second.output;
    else if (u != st.unreported.end()) h.output = u->second.tokens;
    else if (const auto* tokens = st.batch->tokens(id)) h.output = *tokens;
    report.requests.push_back(std::move(h));
    reported.push_back(id);
    ++it;
  }
  if (reported.empty()) {
    if (registered) report_nothing_held(self);
    return;
  }
  st.reporting = true;
  spdlog::info("{}: telling the new router about {} requests the last one dispatched here", st.self.name,
               reported.size());
  auto answered = [=](const std::vector<uint64_t>& taken) {
    auto& st = self->state;
    st.reporting = false;
    int dropped = 0;
    for (uint64_t id : reported) {
      if (!st.orphans.erase(id)) continue;  // it ended meanwhile
      if (std::find(taken.begin(), taken.end(), id) == taken.end()) {
        drop_orphan(st, id);
        ++dropped;
      } else if (auto u = st.unreported.find(id); u != st.unreported.end()) {
        st.news.gather().results.push_back(std::move(u->second));  // the waiting results, to the new router
        st.unreported.erase(u);
      }
    }
    spdlog::info("{}: the new router took over {} requests ({} dropped)", st.self.name, reported.size() - dropped,
                 dropped);
    send_news(self);
    report_held(self, false);  // those that became orphans meanwhile (another router change)
  };
  self->request(st.router, std::chrono::seconds(5), std::move(report))
      .then([=](const std::vector<uint64_t>& taken) { answered(taken); },
            [=](caf::error& err) {
              spdlog::warn("{}: the new router did not take the last one's requests over ({})", self->state.self.name,
                           describe(err));
              answered({});
            });
}

// A decode job: the sequence reserved and the receiver armed for its KV, or why not.
caf::expected<int32_t> reserve_sequence(decode_self* self, const decode_job& job, int capacity) {
  auto& st = self->state;
  if (self->current_sender() != caf::actor_cast<caf::strong_actor_ptr>(st.router))
    return caf::make_error(errc::unreachable, st.self.name + ": a job from a router that is gone");
  if (st.faults && st.faults->fire(fault_point::crash_role)) {
    spdlog::warn("{}: fault point crash_role: the role actor dies", st.self.name);
    self->quit(caf::make_error(caf::sec::runtime_error, "fault point crash_role"));
    return caf::make_error(errc::node_lost, st.self.name + ": the role actor crashed");
  }
  if (st.faults && st.faults->fire(fault_point::fail_alloc))
    return caf::make_error(errc::no_capacity, st.self.name + ": no room for the sequence (fault point fail_alloc)");
  if (!job.output.empty() &&
      (static_cast<int32_t>(job.output.size()) > job.max_tokens ||
       job.prompt_tokens != static_cast<int32_t>(job.prompt.size() + job.output.size() - 1)))
    return caf::make_error(errc::invalid_argument,
                           st.self.name + ": a resumed request's output does not fit its prompt and max_tokens");
  if (static_cast<int>(st.reserved.size()) + st.batch->size() >= capacity)
    return caf::make_error(errc::no_capacity, st.self.name + " holds its maximum of " +
                                                  std::to_string(capacity) + " sequences");
  int32_t held = 0;
  try {
    const auto& c = st.engine->layout();
    auto kv = std::make_unique<kv::sequence_kv>(c.kv_layout(), *st.pool);
    // The prompt's start this node's cache holds (a conversation's earlier turn decoded
    // here) is shared into the sequence, not received: the prefill node sends the rest.
    // Blocks of the prompt less its last token only, so every full layer still receives
    // at least its last block.  A resumed request's KV holds its output too (but the last token).
    const auto resumed = sched::resume_from(job.prompt, job.output, false);
    const auto& kv_tokens = resumed ? resumed->prompt : job.prompt;
    if (!job.whole_kv && static_cast<int32_t>(kv_tokens.size()) == job.prompt_tokens)
      held = st.cache->lend_blocks(kv::reusable_chain(kv_tokens, c.block_tokens), *kv);
    const int held_blocks = held / c.block_tokens;
    st.cache->make_room(c.full_layers() * (c.blocks_for(job.prompt_tokens + job.max_tokens) - held_blocks));
    kv->reserve(job.prompt_tokens + job.max_tokens);
    kv->set_tokens(job.prompt_tokens);
    auto transfer = std::make_unique<transport::sequence_transfer>(*kv, -1, held_blocks);
    st.receiver->expect(transport::transfer_key(job.request, job.attempt), *transfer);
    st.reserved[job.request] =
        reserved_sequence{std::move(kv), std::move(transfer), job.max_tokens, job.prompt, job.attempt, job.stream,
                          std::chrono::steady_clock::now(), job.how, job.output};
    prune_facts(st);
    auto& f = st.facts[job.request];
    f = {};
    f.entry.request = job.request;
    f.entry.client_id = job.client_id;
    f.entry.owner = job.owner;
    f.entry.prompt = job.prompt;
    f.entry.max_tokens = job.max_tokens;
    f.entry.how = job.how;
    f.entry.stream = job.stream;
    f.entry.prfaas = job.prfaas;
    f.entry.prefill_node = job.prefill_node;
    if (job.deadline_ms > 0)
      f.deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(job.deadline_ms);
  } catch (const failure& f) {
    return caf::make_error(f.code(), st.self.name + ": " + f.what());
  }
  if (held > 0)
    spdlog::info("{}: request {}: the first {} of its {} prompt tokens are in this node's cache: not sent",
                 st.self.name, job.request, held, job.prompt_tokens);
  return held;
}

decode_actor::behavior_type decode(decode_self* self, decode_options o, caf::actor router) {
  ignore_stray_errors(self);
  auto& st = self->state;
  st.self = std::move(o.self);
  st.router = caf::actor_cast<router_actor>(router);
  PRFAAS_REQUIRE(o.parts.engine && o.parts.pool && o.parts.cache && o.parts.carrier,
                 st.self.name + ": a decode node needs an engine, a block pool, a cache and a carrier");
  st.engine = std::move(o.parts.engine);
  st.tokenizer = o.parts.tokenizer ? std::move(o.parts.tokenizer) : std::make_shared<text::byte_tokenizer>();
  st.pool = std::move(o.parts.pool);
  st.cache = std::move(o.parts.cache);
  st.batch = std::make_unique<engine::decode_batch>(*st.engine, o.max_sequences, o.cache_finished);
  st.news = outbox<decode_news>(o.news_gap);
  st.links = std::make_shared<transport::link_pool>(o.parts.carrier, o.links, nullptr);
  const auto& context = o.context;
  st.faults = context.faults;
  st.receiver = o.parts.carrier->listen(endpoint{context.data_host, context.data_port},
                                        kv_events_to(self->address()), o.receiver);
  st.self.data_endpoint = context.data_endpoint(st.receiver->port());
  st.self.capacity = st.batch->capacity();
  const int capacity = st.batch->capacity();
  return {
      [=](atoms::status_atom) { return self->state.self; },
      // A round's jobs: each reserved or refused, the answers in the next news.
      [=](std::vector<decode_job>& jobs) {
        auto& st = self->state;
        if (jobs.size() > kMaxJobsPerMessage) return;  // more than a router ever sends
        for (const auto& job : jobs) {
          auto held = reserve_sequence(self, job, capacity);
          if (held) {
            st.news.add(self).reserved.push_back({job.request, job.attempt, *held});
            continue;
          }
          if (held.error() == errc::node_lost) return;  // the role actor quits (fault point crash_role)
          // Refused: KV sent beside the job (reserve.whole_kv) that waits for it is dropped at once.
          if (!st.reserved.count(job.request)) st.receiver->cancel(transport::transfer_key(job.request, job.attempt));
          // reserve_sequence refuses with prfaas errors only: their code and words.
          st.news.add(self).failed.push_back(
              decode_failed{job.request, error_words(held.error()), job.attempt, static_cast<errc>(held.error().code())});
        }
      },
      [=](const kv_event& e) {
        auto& st = self->state;
        using ev = transport::transfer_event;
        if (e.kind != ev::complete && e.kind != ev::failed) return;  // a layer landed: nothing to do here
        // The receiver speaks of transfers (transport::transfer_key): the request that expects it.
        auto it = st.reserved.find(e.request);  // a first attempt's key is its request id
        if (it == st.reserved.end() || transport::transfer_key(it->first, it->second.attempt) != e.request) {
          it = st.reserved.begin();
          while (it != st.reserved.end() && transport::transfer_key(it->first, it->second.attempt) != e.request) ++it;
        }
        if (it == st.reserved.end()) return;
        const uint64_t id = it->first;
        if (e.kind == ev::complete) {
          // The receiver's clock is this process's steady clock: its first payload's time is ours.
          using clock = std::chrono::steady_clock;
          const auto ms_since_reserved = [&](clock::time_point t) {
            return std::chrono::duration<double, std::milli>(t - it->second.reserved_at).count();
          };
          const auto first = clock::time_point(clock::duration(e.first_payload_ns));
          const double landed = ms_since_reserved(clock::now());
          const sched::decode_phases phases{first == clock::time_point{} ? landed : ms_since_reserved(first), landed};
          auto seq = std::move(it->second);
          st.reserved.erase(it);
          const auto& shape = seq.kv->layout();
          const long landed_bytes = shape.sequence_bytes(seq.kv->tokens(), seq.transfer->held_blocks());
          st.news.add(self).started.push_back(
              decode_started{id, landed_bytes, seq.attempt, phases, seq.kv->total_payload_bytes() - landed_bytes});
          // Stop strings are read in the model's own text: this node's tokenizer decodes them.
          auto stop = std::make_unique<text::stop_condition>(st.tokenizer.get(), seq.how.stop_ids, seq.how.stop_strings);
          auto output = seq.output.empty() ? std::vector<int32_t>{e.first_token} : std::move(seq.output);
          if (output.size() > 1)
            spdlog::info("{}: request {} (attempt {}): resumed after {} output tokens, from {} KV positions", st.self.name,
                         id, seq.attempt, output.size(), seq.kv->tokens());
          else
            spdlog::info("{}: request {} (attempt {}): decoding from {} prompt tokens", st.self.name, id, seq.attempt,
                         seq.kv->tokens());
          const size_t known = output.size();
          // The first token's log-probabilities came with the KV (the batch checks their ids).
          std::optional<model::token_logprobs> first_logprobs;
          if (e.has_first_logprobs) first_logprobs = e.first_logprobs;
          try {
            st.batch->add(id, std::move(seq.kv), std::move(output), seq.max_tokens,
                          {sampling_of(seq.how), seq.prompt, stop->empty() ? nullptr : std::move(stop),
                           std::move(first_logprobs)});
          } catch (const failure& f) {  // the node's own failure, with its code: not the transport's
            spdlog::warn("{}: request {}: cannot decode: {}", st.self.name, id, f.what());
            st.news.add(self).failed.push_back(decode_failed{id, st.self.name + ": " + f.what(), seq.attempt, f.code()});
            return;
          }
          st.decoding[id] = {std::move(seq.prompt), seq.attempt};
          const auto now = std::chrono::steady_clock::now();
          if (seq.stream) {  // a fresh stream's first token goes at once: it is the request's TTFT
            if (known == 1) st.news.add(self).chunks.push_back(token_chunk{id, 0, {e.first_token}, seq.attempt});
            st.streams[id] = {known, now, kStreamPeriod, true};
          } else {
            st.streams[id] = {known, now, kCheckpointPeriod, false};
          }
          schedule_step(self);
        } else if (e.kind == ev::failed) {
          st.receiver->cancel(e.request);  // waits out a writer still landing a payload
          const int32_t attempt = it->second.attempt;
          st.reserved.erase(it);
          st.news.add(self).failed.push_back(decode_failed{id, st.self.name + ": " + e.error, attempt, e.code});
        }
      },
      // Only the attempt named: a request re-dispatched here again keeps its new sequence.
      [=](atoms::abort_atom, uint64_t id, int32_t attempt) {
        auto& st = self->state;
        if (auto it = st.reserved.find(id); it != st.reserved.end() && it->second.attempt == attempt) {
          st.receiver->cancel(transport::transfer_key(id, attempt));
          st.reserved.erase(it);
        }
        if (auto it = st.decoding.find(id); it != st.decoding.end() && it->second.second == attempt) {
          st.batch->remove(id);
          st.decoding.erase(it);
          st.streams.erase(id);
        }
      },
      // The router lost, or a new one: what the last one assigned is kept and decodes on, for
      // the next router to take over once this node registered with it (republish_atom).
      [=](atoms::router_atom, caf::actor router) {
        auto& st = self->state;
        send_news(self);  // the last router's, to it
        st.router = caf::actor_cast<router_actor>(router);
        for (const auto& [id, seq] : st.reserved) st.orphans.insert(id);
        for (const auto& [id, d] : st.decoding) st.orphans.insert(id);
        if (!st.orphans.empty())
          spdlog::info("{}: the router changed: {} requests of the last one kept for the next to take over",
                       st.self.name, st.orphans.size());
      },
      // Registered (again), or a directory registered: it hears the whole cache, then every
      // change; and a router it registered with hears what the last one's requests reached.
      [=](atoms::republish_atom, const caf::actor& local, const std::string& at) {
        auto& st = self->state;
        if (st.router && self->current_sender() == st.router.address()) report_held(self, true);
        follow_directory(self, self->state.router, self->state.directory, local, at, [=] {
          auto& st = self->state;
          st.published = static_cast<bool>(st.directory.handle);
          if (st.published) self->send(st.directory.handle, whole_cache_update(st.self, *st.cache));
        });
      },
      // The mailbox was read up to here: the news goes, unless a step is coming (it sends them).
      [=](atoms::flush_atom) {
        self->state.news.flushed();
        if (!self->state.stepping) send_news(self);
      },
      [=](const cache_push& m) {
        auto& st = self->state;
        return serve_cache_push(st.self, *st.cache, st.engine->layout(), *st.pool, *st.links, m);
      },
      [=](atoms::step_atom) {
        auto& st = self->state;
        st.stepping = false;
        bool cached = false;
        auto finished = st.batch->step();
        // The router gets what each sequence produced since its last chunk, when its period is up.
        const auto now = std::chrono::steady_clock::now();
        auto flush_stream = [&](uint64_t id, const std::vector<int32_t>& tokens, bool last) {
          auto s = st.streams.find(id);
          if (s == st.streams.end() || tokens.size() <= s->second.sent) return;
          if (!last && now - s->second.last < s->second.period) return;
          token_chunk c{id, static_cast<int32_t>(s->second.sent),
                        std::vector<int32_t>(tokens.begin() + static_cast<std::ptrdiff_t>(s->second.sent), tokens.end()),
                        st.decoding[id].second};
          st.news.gather().chunks.push_back(std::move(c));  // sent at the step's end
          s->second.sent = tokens.size();
          s->second.last = now;
        };
        for (const auto& [id, s] : st.streams)
          if (const auto* tokens = st.batch->tokens(id)) flush_stream(id, *tokens, false);
        // The step's results go together with the rest of the news: one message.
        auto& results = st.news.gather().results;
        for (auto& done : finished) {
          if (auto s = st.streams.find(done.request); s != st.streams.end()) {
            if (s->second.streamed) flush_stream(done.request, done.tokens, true);
            st.streams.erase(s);
          }
          // The sequence's KV covers its prompt and every output token but the last: cached
          // under those tokens' keys, a next turn that repeats them starts from here.
          auto [prompt, attempt] = std::move(st.decoding[done.request]);
          st.decoding.erase(done.request);
          if (!prompt.empty() && done.kv) {
            prompt.insert(prompt.end(), done.tokens.begin(), done.tokens.end());
            st.cache->insert_sequence(prompt, *done.kv, std::move(done.snapshots));
            cached = true;
          }
          decode_result r{done.request, std::move(done.tokens), done.decode_ms, attempt, done.stopped,
                          std::move(done.logprobs)};
          if (st.orphans.count(done.request)) st.unreported[done.request] = std::move(r);  // for the next router
          else results.push_back(std::move(r));
        }
        // The cache's news first: the client's next turn, asked of the directory once the router
        // replied, finds the sequences that ended here (the two go to different processes).
        if (cached && st.directory.handle) {
          const bool first = !st.published;
          st.published = true;
          self->send(st.directory.handle, make_cache_update(st.self, *st.cache, st.cache->take_delta(), first));
        }
        send_news(self);
        schedule_step(self);
      },
  };
}

}  // namespace

decode_actor spawn_decode(caf::actor_system& sys, decode_options options, caf::actor router) {
  return sys.spawn<caf::detached>(decode, std::move(options), std::move(router));
}

decode_actor spawn_decode(caf::actor_system& sys, const config::deployment_config& config, node_info self,
                          caf::actor router, worker_context context) {
  return spawn_decode(sys, decode_options_for(config, std::move(self), std::move(context)), std::move(router));
}

}  // namespace prfaas::actors

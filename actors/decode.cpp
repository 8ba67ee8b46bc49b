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

#include <caf/all.hpp>
#include <spdlog/spdlog.h>

#include <chrono>
#include <map>
#include <memory>

#include "actors/cache_update.hpp"
#include "actors/directory_link.hpp"
#include "actors/kv_plane.hpp"
#include "actors/actor_plane.hpp"
#include "actors/messages.hpp"
#include "actors/roles.hpp"
#include "runtime/kv/block_pool.h"
#include "runtime/engine/decode_batch.h"
#include "runtime/engine/engine.h"
#include "runtime/kv/prefix_cache.h"
#include "runtime/sched/resume.h"
#include "runtime/text/stop_condition.h"
#include "runtime/transport/link_pool.h"

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
  std::unique_ptr<transport::carrier_listener> receiver;
  std::shared_ptr<transport::link_pool> links;        // pushes of cached prefixes to prefill nodes
  std::shared_ptr<fault_injector> faults;
  bool published = false;
  directory_link directory;  // where cache updates go (the router names it)
  bool stepping = false;
  static inline const char* name = "decode";
};

using decode_self = decode_actor::stateful_base<decode_state>;

void schedule_step(decode_self* self) {
  if (self->state.stepping || self->state.batch->empty()) return;
  self->state.stepping = true;
  self->send(self, atoms::step_atom::value);
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
      [=](const decode_job& job) -> caf::result<int32_t> {
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
          st.receiver->expect(job.request, *transfer);
          st.reserved[job.request] =
              reserved_sequence{std::move(kv), std::move(transfer), job.max_tokens, job.prompt, job.attempt, job.stream,
                                std::chrono::steady_clock::now(), job.how, job.output};
        } catch (const failure& f) {
          return caf::make_error(f.code(), st.self.name + ": " + f.what());
        }
        if (held > 0)
          spdlog::info("{}: request {}: the first {} of its {} prompt tokens are in this node's cache: not sent",
                       st.self.name, job.request, held, job.prompt_tokens);
        return held;
      },
      [=](const kv_event& e) {
        auto& st = self->state;
        const uint64_t id = e.request;
        auto it = st.reserved.find(id);
        if (it == st.reserved.end()) return;
        using ev = transport::transfer_event;
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
          self->send(st.router, decode_started{id, landed_bytes, seq.attempt, phases,
                                                               seq.kv->total_payload_bytes() - landed_bytes});
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
          try {
            st.batch->add(id, std::move(seq.kv), std::move(output), seq.max_tokens,
                          {sampling_of(seq.how), seq.prompt, stop->empty() ? nullptr : std::move(stop)});
          } catch (const failure& f) {  // the node's own failure, with its code: not the transport's
            spdlog::warn("{}: request {}: cannot decode: {}", st.self.name, id, f.what());
            self->send(st.router, decode_failed{id, st.self.name + ": " + f.what(), seq.attempt, f.code()});
            return;
          }
          st.decoding[id] = {std::move(seq.prompt), seq.attempt};
          const auto now = std::chrono::steady_clock::now();
          if (seq.stream) {  // a fresh stream's first token goes at once: it is the request's TTFT
            if (known == 1) self->send(st.router, token_chunk{id, 0, {e.first_token}, seq.attempt});
            st.streams[id] = {known, now, kStreamPeriod, true};
          } else {
            st.streams[id] = {known, now, kCheckpointPeriod, false};
          }
          schedule_step(self);
        } else if (e.kind == ev::failed) {
          st.receiver->cancel(id);  // waits out a writer still landing a payload
          const int32_t attempt = it->second.attempt;
          st.reserved.erase(it);
          self->send(st.router, decode_failed{id, st.self.name + ": " + e.error, attempt, e.code});
        }
      },
      // Only the attempt named: a request re-dispatched here again keeps its new sequence.
      [=](atoms::abort_atom, uint64_t id, int32_t attempt) {
        auto& st = self->state;
        if (auto it = st.reserved.find(id); it != st.reserved.end() && it->second.attempt == attempt) {
          st.receiver->cancel(id);
          st.reserved.erase(it);
        }
        if (auto it = st.decoding.find(id); it != st.decoding.end() && it->second.second == attempt) {
          st.batch->remove(id);
          st.decoding.erase(it);
          st.streams.erase(id);
        }
      },
      // A new router: what the last one assigned can no longer be delivered (its clients retry
      // with the new one), so the sequences go and their room with them.
      [=](atoms::router_atom, caf::actor router) {
        auto& st = self->state;
        st.router = caf::actor_cast<router_actor>(router);
        for (auto& [id, seq] : st.reserved) st.receiver->cancel(id);
        st.reserved.clear();
        for (auto& [id, d] : st.decoding) st.batch->remove(id);
        st.decoding.clear();
        st.streams.clear();
        spdlog::info("{}: the router changed: dropped the work of the last one", st.self.name);
      },
      // Registered (again), or a directory registered: it hears the whole cache, then every change.
      [=](atoms::republish_atom, const caf::actor& local, const std::string& at) {
        follow_directory(self, self->state.router, self->state.directory, local, at, [=] {
          auto& st = self->state;
          st.published = static_cast<bool>(st.directory.handle);
          if (st.published) self->send(st.directory.handle, whole_cache_update(st.self, *st.cache));
        });
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
          self->send(st.router, std::move(c));
          s->second.sent = tokens.size();
          s->second.last = now;
        };
        for (const auto& [id, s] : st.streams)
          if (const auto* tokens = st.batch->tokens(id)) flush_stream(id, *tokens, false);
        // The step's results go together: one message however many sequences ended in it.
        std::vector<decode_result> results;
        results.reserve(finished.size());
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
          results.push_back(decode_result{done.request, std::move(done.tokens), done.decode_ms, attempt, done.stopped,
                                          std::move(done.logprobs)});
        }
        // The cache's news first: the client's next turn, asked of the directory once the router
        // replied, finds the sequences that ended here (the two go to different processes).
        if (cached && st.directory.handle) {
          const bool first = !st.published;
          st.published = true;
          self->send(st.directory.handle, make_cache_update(st.self, *st.cache, st.cache->take_delta(), first));
        }
        if (!results.empty()) self->send(st.router, std::move(results));
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

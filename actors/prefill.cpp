// Prefill role: runs the model over a prompt, starting from the longest hit in the node's prefix
// cache, and streams each layer's KV to the decode node the router chose as soon as the layer is
// done (the prefill hook posts it; the link's connection threads put it on the wire while the
// next layer computes).  After each prefill it sends the router what its cache inserted and
// evicted (the router forwards it to the cache directory).  Spawned detached: a prefill holds
// its thread for the length of the computation, and jobs queue in the mailbox.  A linked
// reporter actor sends the router the node's link telemetry every report period.
//
//   prefill_job --> [cached_prefill, hook -> link.send_layer; flush] --> prefill_report
//                   cache delta --> cache_update to the router
//   republish_atom --> the whole cache, reset = true (the directory restarted)
//   cache_pull --> [receiver armed] --kv complete--> into the cache, cache_pulled to the router
//   cache_push --> restore from the cache, send it to the pulling node --> tokens sent
//   reporter: tick --> link_pool.snapshot() --> link_report to the router

#include <caf/all.hpp>
#include <spdlog/spdlog.h>

#include <chrono>
#include <map>
#include <memory>
#include <thread>

#include "actors/cache_update.hpp"
#include "actors/kv_plane.hpp"
#include "actors/messages.hpp"
#include "actors/roles.hpp"
#include "runtime/kv/block_pool.h"
#include "runtime/kv/prefix_cache.h"
#include "runtime/engine/engine.h"
#include "runtime/transport/kv_receiver.h"
#include "runtime/transport/link_pool.h"
#include "runtime/transport/prefix_move.h"

namespace prfaas::actors {
namespace {

constexpr auto kReportPeriod = std::chrono::milliseconds(250);

struct reporter_state {
  transport::rate_meter rate;
  caf::actor router;
  static inline const char* name = "link-reporter";
};

caf::behavior link_reporter(caf::stateful_actor<reporter_state>* self, std::shared_ptr<transport::link_pool> links,
                            caf::actor router, node_info info, double capacity_gbps) {
  self->state.router = std::move(router);
  self->send(self, atoms::tick_atom::value);
  return {
      [=](atoms::router_atom, caf::actor router) { self->state.router = std::move(router); },
      [=](atoms::tick_atom) {
        self->delayed_send(self, kReportPeriod, atoms::tick_atom::value);
        const auto sum = transport::summarize(links->snapshot());
        link_report r;
        r.node = info.name;
        r.prfaas = info.prfaas;
        r.egress_gbps = self->state.rate.update(sum.bytes_sent, std::chrono::steady_clock::now()) * 8 / 1e9;
        r.capacity_gbps = capacity_gbps;
        r.bytes_in_flight = static_cast<int64_t>(sum.bytes_in_flight);
        r.links = sum.links;
        r.connections = sum.connections;
        r.rtt_us = sum.worst_rtt_us;
        r.retransmits = sum.retransmits;
        r.cwnd = sum.smallest_cwnd;
        r.delivery_rate_bps = sum.delivery_rate_bps;
        if (self->state.router) self->send(self->state.router, r);
      },
  };
}

struct prefill_state {
  node_info self;
  std::unique_ptr<engine::engine> engine;     // the tiny model or an emulated profile
  std::unique_ptr<kv::block_pool> pool;
  std::unique_ptr<kv::prefix_cache> cache;  // after the pool: it releases blocks into it
  // Prefixes on their way here, with the router's attempt (echoed in cache_pulled).
  std::map<uint64_t, std::pair<std::unique_ptr<transport::pulled_prefix>, int32_t>> pulls;
  std::unique_ptr<transport::kv_receiver> receiver;  // after pulls: its threads write into them
  bool published = false;                   // the first update resets what the directory held
  caf::actor router;
  caf::actor reporter;
  std::shared_ptr<transport::link_pool> links;
  worker_context context;                    // cancellations, fault points
  static inline const char* name = "prefill";
};

using prefill_actor = caf::stateful_actor<prefill_state>;

// After every prefill (even with nothing new: the statistics moved) and on request.
void publish(prefill_actor* self, kv::cache_delta delta, bool reset) {
  auto& st = self->state;
  if (!st.router) return;
  const bool first = !st.published;
  st.published = true;
  self->send(st.router, make_cache_update(st.self, *st.cache, std::move(delta), reset || first));
}

// A pull ended, well (its prefix goes into the cache) or not (the prefill recomputes it).
void pull_ended(prefill_actor* self, uint64_t id, bool ok, const std::string& why) {
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

caf::behavior prefill(prefill_actor* self, config::deployment_config config, node_info info, caf::actor router,
                      worker_context context) {
  auto& st = self->state;
  st.self = std::move(info);
  st.engine = engine::make_engine(config, info.prfaas);
  st.pool = std::make_unique<kv::block_pool>(config.model.block_bytes(), config.node.kv_blocks);
  st.cache = std::make_unique<kv::prefix_cache>(
      st.engine->layout(), *st.pool,
      kv::prefix_cache_options{static_cast<int64_t>(config.cache.budget_mib) << 20, config.cache.snapshot_every_blocks});
  st.router = router;
  // Pulled prefixes land here; receiver threads hand events over as messages (a weak address
  // avoids a reference cycle).
  caf::actor_addr me = self->address();
  st.receiver = std::make_unique<transport::kv_receiver>(
      endpoint{context.data_host, 0}, [me](const transport::kv_receiver::event& e) {
        if (auto h = caf::actor_cast<caf::actor>(me))
          caf::anon_send(h, atoms::kv_event_atom::value, e.request, static_cast<int32_t>(e.kind), e.first_token,
                         e.error);
      },
      receiver_options_for(config, context.secret));
  st.self.data_endpoint = endpoint{context.data_host, st.receiver->port()}.str();
  st.context = context;
  // PrfaaS egress crosses the inter-cluster link: its nodes share the link's capacity evenly,
  // paced by the node's own pacer (context.egress, which chaos commands cut and re-rate).
  const auto& t = config.transport;
  const bool crosses = st.self.prfaas;
  const int sharers = std::max(1, config.deployment.prfaas_prefill);
  auto lo = link_options_for(config, st.self.name, context);
  lo.capacity_gbps = crosses ? t.link_gbps / sharers : 0;
  lo.delay = crosses && t.emulate_link ? std::chrono::microseconds(static_cast<long>(t.link_delay_ms * 1000))
                                       : std::chrono::microseconds(0);
  st.links = std::make_shared<transport::link_pool>(lo, crosses ? context.egress : nullptr);
  st.reporter = self->spawn<caf::linked>(link_reporter, st.links, router, st.self, lo.capacity_gbps);
  return {
      [=](atoms::status_atom) { return self->state.self; },
      [=](atoms::router_atom, caf::actor router) {
        auto& st = self->state;
        self->send(st.reporter, atoms::router_atom::value, router);
        st.router = std::move(router);
        // Pulls the last router started can no longer be used.
        for (auto& [id, pull] : st.pulls) st.receiver->cancel(id);
        st.pulls.clear();
        if (!st.router) spdlog::warn("{}: the router is gone; jobs it sent are refused", st.self.name);
      },
      [=](atoms::republish_atom) { publish(self, self->state.cache->everything(), true); },
      // A running prefill reads cancellations from the board (the supervisor writes it); here
      // a pull waiting for its prefix ends.
      [=](atoms::abort_atom, uint64_t id, int32_t attempt) {
        auto it = self->state.pulls.find(id);
        if (it != self->state.pulls.end() && it->second.second == attempt) pull_ended(self, id, false, "aborted");
      },
      [=](const cache_pull& m) -> caf::result<caf::ok_atom> {
        auto& st = self->state;
        try {
          auto pull = std::make_unique<transport::pulled_prefix>(st.engine->layout(), *st.pool, m.prompt, m.tokens);
          st.receiver->expect(m.request, pull->target());
          st.pulls[m.request] = {std::move(pull), m.attempt};
        } catch (const failure& f) {
          return caf::make_error(f.code(), st.self.name + ": " + f.what());
        }
        return caf::ok_atom::value;
      },
      [=](atoms::kv_event_atom, uint64_t id, int32_t kind, int32_t, const std::string& error) {
        using ev = transport::kv_receiver::event;
        if (kind == ev::complete) pull_ended(self, id, true, "");
        else if (kind == ev::failed) pull_ended(self, id, false, error);
      },
      [=](const cache_push& m) {
        auto& st = self->state;
        return serve_cache_push(st.self, *st.cache, st.engine->layout(), *st.pool, *st.links, m);
      },
      [=](const prefill_job& job) -> caf::result<prefill_report> {
        auto& st = self->state;
        if (self->current_sender() != caf::actor_cast<caf::strong_actor_ptr>(st.router))
          return caf::make_error(errc::unreachable, st.self.name + ": a job from a router that is gone");
        const auto& cancels = st.context.cancels;
        if (cancels && cancels->cancelled(job.request, job.attempt))
          return caf::make_error(errc::cancelled, st.self.name + ": request " + std::to_string(job.request) +
                                                      " was cancelled before its prefill started");
        if (st.context.faults && st.context.faults->fire(fault_point::crash_role)) {
          spdlog::warn("{}: fault point crash_role: the role actor dies", st.self.name);
          self->quit(caf::make_error(caf::sec::runtime_error, "fault point crash_role"));
          return caf::make_error(errc::node_lost, st.self.name + ": the role actor crashed");
        }
        const auto t0 = std::chrono::steady_clock::now();
        spdlog::info("{}: request {} (attempt {}): prefill of {} tokens started", st.self.name, job.request, job.attempt,
                     job.prompt.size());
        // The job carries the request's deadline: past it, or once the request is cancelled,
        // stop after the layer in progress (the router has already failed or re-dispatched it).
        const auto deadline = t0 + std::chrono::milliseconds(job.deadline_ms);
        const int layers = st.engine->layout().n_layers;
        const int delay_ms = st.context.faults ? st.context.faults->options().delay_layer_ms : 0;
        auto after_layer = [&](int layer) {
          if (delay_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));  // fault point
          const std::string where = "prefill stopped after layer " + std::to_string(layer) + " of " + std::to_string(layers);
          if (cancels && cancels->cancelled(job.request, job.attempt))
            throw failure(errc::cancelled, where + ": the request was cancelled");
          if (job.deadline_ms <= 0) return;
          const auto now = std::chrono::steady_clock::now();
          if (now <= deadline) return;
          const double late_ms = std::chrono::duration<double, std::milli>(now - deadline).count();
          throw failure(errc::deadline_exceeded,
                        where + ", " + std::to_string(static_cast<int>(late_ms)) + " ms past the request's deadline");
        };
        try {
          auto link = st.links->get(job.decode_endpoint);
          const uint64_t before = link->payload_bytes_sent();
          kv::sequence_kv kv(st.engine->layout(), *st.pool);
          // Frames carry the prompt's length while chunks stream before the prefill ends.
          transport::sequence_transfer src(kv, static_cast<int>(job.prompt.size()));
          // Posted frames reference kv's blocks: whatever happens below, no connection thread
          // reads them once kv goes back to the pool.
          struct forget_before_free {
            transport::kv_sender& link;
            uint64_t request;
            ~forget_before_free() { link.forget(request); }
          } guard{*link, job.request};
          auto r = st.engine->prefill(st.cache.get(), job.prompt, kv,
                                      [&](int layer, int first, int end) {
                                        link->send_payloads(job.request, src, layer, first, end);
                                      },
                                      after_layer);
          link->send_done(job.request, static_cast<uint32_t>(kv.tokens()), r.first_token);
          // The receiver confirms it has everything (a broken link resumes meanwhile); until
          // then kv's blocks may be sent again.
          link->finish(job.request, job.deadline_ms > 0 ? deadline : t0 + 2 * lo.receive_timeout + lo.resume_timeout);
          publish(self, st.cache->take_delta(), false);
          prefill_report rep;
          rep.request = job.request;
          rep.kv_bytes = static_cast<int64_t>(link->payload_bytes_sent() - before);
          rep.prefill_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
          rep.cached_tokens = r.cached_tokens;
          rep.computed_tokens = r.computed_tokens;
          spdlog::info("{}: request {} prefilled {} tokens ({} from the cache) in {:.0f} ms, {} KV bytes to {}",
                       st.self.name, job.request, job.prompt.size(), r.cached_tokens, rep.prefill_ms, rep.kv_bytes,
                       job.decode_endpoint);
          return rep;
        } catch (const failure& f) {
          spdlog::warn("{}: request {} failed: {}", st.self.name, job.request, f.what());
          return caf::make_error(f.code(), st.self.name + ": " + f.what());
        }
      },
  };
}

}  // namespace

caf::actor spawn_prefill(caf::actor_system& sys, const config::deployment_config& config, node_info self,
                         caf::actor router, worker_context context) {
  return sys.spawn<caf::detached>(prefill, config, std::move(self), std::move(router), std::move(context));
}

}  // namespace prfaas::actors

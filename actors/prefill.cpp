// Prefill role: runs the model over a prompt and streams each layer's KV to the decode node the
// router chose, as soon as the layer is done (the prefill hook).  Spawned detached: a prefill
// holds its thread for the length of the computation, and jobs queue in the mailbox.
//
//   prefill_job --> [prefill: model.prefill, hook -> kv_sender.send_layer] --> prefill_report

#include <caf/all.hpp>
#include <spdlog/spdlog.h>

#include <chrono>
#include <map>
#include <memory>

#include "actors/messages.hpp"
#include "actors/roles.hpp"
#include "runtime/kv/block_pool.h"
#include "runtime/model/hybrid_model.h"
#include "runtime/transport/kv_sender.h"

namespace prfaas::actors {
namespace {

struct prefill_state {
  node_info self;
  std::unique_ptr<model::hybrid_model> model;
  std::unique_ptr<kv::block_pool> pool;
  std::map<std::string, std::unique_ptr<transport::kv_sender>> senders;  // one per decode node
  static inline const char* name = "prefill";
};

using prefill_actor = caf::stateful_actor<prefill_state>;

// The sender to `to`, reconnecting when the cached connection broke (the peer restarted).
transport::kv_sender& sender_for(prefill_state& st, const std::string& to) {
  auto& s = st.senders[to];
  if (!s || s->broken())
    s = std::make_unique<transport::kv_sender>(parse_endpoint(to), st.self.name, std::chrono::seconds(2));
  return *s;
}

caf::behavior prefill(prefill_actor* self, config::deployment_config config, node_info info) {
  auto& st = self->state;
  st.self = std::move(info);
  st.model = std::make_unique<model::hybrid_model>(config.model);
  st.pool = std::make_unique<kv::block_pool>(config.model.block_bytes(), config.node.kv_blocks);
  return {
      [=](atoms::status_atom) { return self->state.self; },
      [=](const prefill_job& job) -> caf::result<prefill_report> {
        auto& st = self->state;
        const auto t0 = std::chrono::steady_clock::now();
        try {
          auto& tx = sender_for(st, job.decode_endpoint);
          const uint64_t before = tx.payload_bytes_sent();
          kv::sequence_kv kv(st.model->config(), *st.pool);
          auto logits = st.model->prefill(job.prompt, kv, [&](int layer) { tx.send_layer(job.request, kv, layer); });
          tx.send_done(job.request, kv.tokens(), model::greedy(logits));
          prefill_report rep;
          rep.request = job.request;
          rep.kv_bytes = static_cast<int64_t>(tx.payload_bytes_sent() - before);
          rep.prefill_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
          spdlog::info("{}: request {} prefilled {} tokens in {:.0f} ms, {} KV bytes to {}", st.self.name,
                       job.request, job.prompt.size(), rep.prefill_ms, rep.kv_bytes, job.decode_endpoint);
          return rep;
        } catch (const failure& f) {
          spdlog::warn("{}: request {} failed: {}", st.self.name, job.request, f.what());
          return caf::make_error(f.code(), st.self.name + ": " + f.what());
        }
      },
  };
}

}  // namespace

caf::actor spawn_prefill(caf::actor_system& sys, const config::deployment_config& config, node_info self) {
  return sys.spawn<caf::detached>(prefill, config, std::move(self));
}

}  // namespace prfaas::actors

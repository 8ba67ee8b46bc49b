// The worker roles' settings and parts as a node makes them from its deployment config.
#include "actors/kv_plane.hpp"
#include "actors/roles.hpp"
#include "runtime/engine/engine.h"
#include "runtime/kv/block_pool.h"
#include "runtime/kv/prefix_cache.h"
#include "runtime/text/model_text.h"

namespace prfaas::actors {

worker_parts make_worker_parts(const config::deployment_config& config, bool prfaas, const worker_context& context) {
  worker_parts p;
  if (context.make_engine)
    p.engine = context.make_engine(config, prfaas);
  else if (config.engine.device_index() >= 0)
    throw failure(errc::bad_config, "engine.device = \"" + config.engine.device + "\" needs a node that can make GPU engines");
  else
    p.engine = engine::make_engine(config, prfaas);
  p.pool = std::make_shared<kv::block_pool>(config.model.block_bytes(), config.node.kv_blocks);
  p.cache = std::make_shared<kv::prefix_cache>(
      p.engine->layout().kv_layout(), *p.pool,
      kv::prefix_cache_options{static_cast<int64_t>(config.cache.budget_mib) << 20, config.cache.snapshot_every_blocks});
  p.carrier = context.carrier ? context.carrier : transport::make_tcp_carrier();
  return p;
}

prefill_options prefill_options_for(const config::deployment_config& config, node_info self, worker_context context) {
  prefill_options o;
  o.parts = make_worker_parts(config, self.prfaas, context);
  // PrfaaS egress crosses the inter-cluster link: its nodes draw on the link's pacer (one
  // shared by demand, or the node's own share of it), which chaos commands cut and re-rate.
  const auto& t = config.transport;
  const bool crosses = self.prfaas;
  const int sharers = std::max(1, config.deployment.prfaas_prefill);
  o.links = link_options_for(config, self.name, context);
  o.links.capacity_gbps = crosses ? (context.egress && context.egress->shared() ? t.link_gbps : t.link_gbps / sharers) : 0;
  o.links.delay = crosses && t.emulate_link ? std::chrono::microseconds(static_cast<long>(t.link_delay_ms * 1000))
                                            : std::chrono::microseconds(0);
  o.egress = crosses ? context.egress : nullptr;
  o.receiver = receiver_options_for(config, context.secret);
  o.token_budget = config.node.prefill_token_budget;
  o.staging_bytes = static_cast<uint64_t>(config.transport.staging_mib) << 20;
  o.news_gap = std::chrono::microseconds(static_cast<long>(config.node.news_gap_ms * 1000));
  o.self = std::move(self);
  o.context = std::move(context);
  return o;
}

decode_options decode_options_for(const config::deployment_config& config, node_info self, worker_context context) {
  decode_options o;
  o.parts = make_worker_parts(config, self.prfaas, context);
  // A decode node reads stop strings in the model's own text.
  o.parts.tokenizer = text::load_tokenizer(config.engine.checkpoint() ? config.engine.model : "", o.parts.engine->layout().vocab);
  o.links = link_options_for(config, self.name, context);
  o.receiver = receiver_options_for(config, context.secret);
  o.max_sequences = config.node.max_sequences;
  o.cache_finished = config.cache.budget_mib > 0;
  o.news_gap = std::chrono::microseconds(static_cast<long>(config.node.news_gap_ms * 1000));
  o.self = std::move(self);
  o.context = std::move(context);
  return o;
}

}  // namespace prfaas::actors

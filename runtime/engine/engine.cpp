#include "runtime/engine/engine.h"
#include "runtime/text/stop_condition.h"

#include <spdlog/spdlog.h>

#include <cstdio>

#include "runtime/common/errc.h"
#include "runtime/common/peak_rss.h"
#include "runtime/config/deployment_config.h"
#include "runtime/engine/emulated_engine.h"
#include "runtime/engine/tiny_engine.h"
#include "runtime/model/generate.h"

namespace prfaas::engine {

std::shared_ptr<const model::checkpoint> load_weights(const config::deployment_config& config) {
  if (!config.engine.checkpoint()) return std::make_shared<const model::checkpoint>(model::checkpoint::builtin(config.model));
  auto ck = model::checkpoint::open(config.engine.model, false);  // the config's reading hashed it already
  ck.set_layout(config.model.block_tokens, config.model.max_context, config.model.weights_hash);
  return std::make_shared<const model::checkpoint>(std::move(ck));
}

std::unique_ptr<engine> make_engine(const config::deployment_config& config, bool prfaas) {
  const auto& e = config.engine;
  if (e.checkpoint()) {
    const auto t0 = std::chrono::steady_clock::now();
    auto weights = load_weights(config);
    const double file_mib = weights->file_bytes() / 1048576.0;
    auto engine = std::make_unique<tiny_engine>(std::move(weights));
    spdlog::info("model {}: {} layers, {:.1f} M parameters ({:.0f} MiB of weight files) loaded and packed in {:.2f} s; "
                 "peak RSS {:.0f} MiB",
                 e.model, config.model.n_layers, config.model.weight_count() / 1e6, file_mib,
                 std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), peak_rss_mib());
    return engine;
  }
  if (!e.emulated()) return std::make_unique<tiny_engine>(config.model);
  return std::make_unique<emulated_engine>(config.model, profile::load_profile(prfaas ? e.profile_prfaas : e.profile),
                                           e.time_scale, e.seed);
}

generation generate(const engine& e, kv::block_pool& pool, std::span<const int32_t> prompt, int max_tokens,
                    const model::sampling_params* sampling, text::stop_condition* stop) {
  model::check_request(e.layout(), prompt.size(), max_tokens);
  using clock = std::chrono::steady_clock;
  generation out;
  kv::sequence_kv kv(e.layout().kv_layout(), pool);
  kv.reserve(static_cast<int>(prompt.size()) + max_tokens);
  const auto t0 = clock::now();
  int32_t next = e.prefill(nullptr, prompt, kv, {}, {}, sampling).first_token;
  const auto t1 = clock::now();
  out.tokens.push_back(next);
  out.stopped = stop && stop->push(next);
  while (!out.stopped && static_cast<int>(out.tokens.size()) < max_tokens) {
    next = e.decode_step(next, kv, model::token_choice{sampling, prompt, out.tokens});
    out.tokens.push_back(next);
    out.stopped = stop && stop->push(next);
  }
  out.prefill_ms = std::chrono::duration<double, std::milli>(t1 - t0).count();
  out.decode_ms = std::chrono::duration<double, std::milli>(clock::now() - t1).count();
  return out;
}

}  // namespace prfaas::engine

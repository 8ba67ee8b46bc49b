#pragma once
// What a prefill or decode node computes with: a model (tiny_engine.h: the built-in seeded one or
// a loaded checkpoint) or a hardware profile played back in time (emulated_engine.h).  Roles, the in-process reference and the
// decode batcher see only this interface, so a deployment switches engines in its config
// ([engine] kind) and every path (routing, transport, cache, failover) stays the same.
//
//   auto e = engine::make_engine(config, /*prfaas=*/true);
//   kv::sequence_kv kv(e->layout().kv_layout(), pool);
//   auto out = e->prefill(cache, prompt, kv, stream_layer, check_deadline);
//   int32_t next = out.first_token;
//   next = e->decode_step(next, kv);               // one position at a time after that
//
// Engines are immutable after construction: one serves several sequences from several threads.

#include <chrono>
#include <climits>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "runtime/kv/block_pool.h"
#include "runtime/kv/prefix_cache.h"
#include "runtime/kv/sequence_kv.h"
#include "runtime/model/cached_prefill.h"
#include "runtime/model/config.h"
#include "runtime/model/sampler.h"

namespace prfaas::config { struct deployment_config; }
namespace prfaas::text { class stop_condition; }

namespace prfaas::engine {

struct prefill_output {
  int32_t first_token = 0;     // chosen from the prompt's last position (greedy or sampled)
  int cached_tokens = 0;       // restored from the cache
  int computed_tokens = 0;     // the prompt less the cached prefix
  model::token_logprobs first_logprobs;  // when the sampling asked for log-probabilities
};

class engine {
 public:
  virtual ~engine() = default;

  // The KV layout (block size, layers, state size, context): what pools, caches, the
  // transport and the router's request checks are built from.
  virtual const model::model_config& layout() const = 0;

  // A prefill that starts from `cache` (null: none) and feeds it back; streams KV through
  // `on_final` as model::cached_prefill documents.  `after_layer` may throw to stop it.  The
  // first token is chosen by `sampling` (null: greedy) at position 0.
  virtual prefill_output prefill(kv::prefix_cache* cache, std::span<const int32_t> prompt, kv::sequence_kv& kv,
                                 const model::payload_hook& on_final = {},
                                 const std::function<void(int layer)>& after_layer = {},
                                 const model::sampling_params* sampling = nullptr) const = 0;

  // Appends `token` to the sequence and returns the next token, chosen as `how` says (default:
  // greedy).
  virtual int32_t decode_step(int32_t token, kv::sequence_kv& kv, const model::token_choice& how = {}) const = 0;

  // One decode step of a whole batch: token i appended to kvs[i], the next tokens out in order,
  // each chosen by how[i] (empty: all greedy).  The same tokens decode_step gives each; an
  // engine that computes overrides it with one forward pass for all (tiny_engine), the default
  // steps them one by one.
  virtual std::vector<int32_t> decode_steps(std::span<const int32_t> tokens, std::span<kv::sequence_kv* const> kvs,
                                            std::span<const model::token_choice> how = {}) const {
    std::vector<int32_t> next;
    next.reserve(tokens.size());
    for (size_t i = 0; i < tokens.size(); ++i)
      next.push_back(decode_step(tokens[i], *kvs[i], how.empty() ? model::token_choice{} : how[i]));
    return next;
  }

  // The least wall time one decode step of a whole batch takes (a profile's T_decode); zero
  // for an engine whose steps take what they compute.
  virtual std::chrono::nanoseconds step_floor() const { return {}; }

  // Sequences one decode batch may hold (a profile's BS_max).
  virtual int max_batch() const { return INT_MAX; }
};

// The weights the config names (engine.kind "hf": its checkpoint folder, with the deployment's
// block size, context and the hash its reading computed; "tiny": the built-in seeded model).
std::shared_ptr<const model::checkpoint> load_weights(const config::deployment_config& config);

// The engine the config names, for a node of the PrfaaS cluster (`prfaas`) or the local one.
// Throws failure(bad_config) when a profile cannot be read.
std::unique_ptr<engine> make_engine(const config::deployment_config& config, bool prfaas);

// The in-process reference: prefill then decode of `max_tokens` tokens (at least 1), greedy or
// as `sampling` says, ending early at a stop token or string (`stop`, null: none); checked as
// the router checks a request.
struct generation {
  std::vector<int32_t> tokens;
  double prefill_ms = 0;
  double decode_ms = 0;
  bool stopped = false;        // a stop condition ended it before max_tokens
};
generation generate(const engine& e, kv::block_pool& pool, std::span<const int32_t> prompt, int max_tokens,
                    const model::sampling_params* sampling = nullptr, text::stop_condition* stop = nullptr);

}  // namespace prfaas::engine

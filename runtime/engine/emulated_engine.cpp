#include "runtime/engine/emulated_engine.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <sstream>
#include <thread>

#include "runtime/common/errc.h"

namespace prfaas::engine {
namespace {

// splitmix64's finaliser: a good 64-bit mix, so neighbouring tokens give unrelated hashes.
uint64_t mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

uint64_t fold(uint64_t h, int32_t token) { return mix(h ^ (static_cast<uint64_t>(token) + 1) * 0x100000001b3ULL); }

int32_t token_of(uint64_t h) {
  const int c = static_cast<int>(h % 27);
  return c == 0 ? ' ' : 'a' + c - 1;
}

// The token a choice picks from the sequence's hash: greedy is the hash's own; a sampled one
// depends on its draw too (seed, choice, position), as a sampled real model's does.
int32_t chosen(uint64_t h, const model::token_choice& how) {
  if (how.greedy()) return token_of(h);
  return token_of(mix(h ^ static_cast<uint64_t>(how.random() * 0x1.0p53)));
}

}  // namespace

emulated_engine::emulated_engine(model::model_config layout, profile::instance_profile profile, double time_scale,
                                 uint64_t seed)
    : layout_(std::move(layout)), profile_(std::move(profile)), time_scale_(time_scale), seed_(seed) {
  PRFAAS_REQUIRE(time_scale_ > 0, "time_scale must be positive");
  PRFAAS_REQUIRE(layout_.n_layers > layout_.full_layers(), "an emulated layout needs a linear layer for its hash");
}

// The hash lives in the first 8 bytes of every linear layer's state (all equal); an empty
// sequence starts from the seed.
uint64_t emulated_engine::state_hash(const kv::sequence_kv& kv) const {
  if (kv.tokens() == 0) return mix(seed_);
  for (int l = 0; l < layout_.n_layers; ++l)
    if (layout_.kind(l) == model::layer_kind::linear) {
      uint64_t h;
      std::memcpy(&h, kv.linear_state_vector(l).data(), sizeof h);
      return h;
    }
  return 0;
}

void emulated_engine::set_state_hash(kv::sequence_kv& kv, uint64_t h) const {
  for (int l = 0; l < layout_.n_layers; ++l)
    if (layout_.kind(l) == model::layer_kind::linear) std::memcpy(kv.linear_state(l), &h, sizeof h);
}

prefill_output emulated_engine::prefill(kv::prefix_cache* cache, std::span<const int32_t> prompt, kv::sequence_kv& kv,
                                        const model::payload_hook& on_final,
                                        const std::function<void(int layer)>& after_layer,
                                 const model::sampling_params* sampling) const {
  using clock = std::chrono::steady_clock;
  // The uncached length is known at the first forward (after the cache's restore); every layer
  // of every chunk then ends at its share of T_prefill(uncached), kept to a schedule so that
  // hooks and sleeps do not add up.
  clock::time_point start;
  double seconds_per_token = 0;
  int uncached = 0, done = 0;
  uint64_t hash = 0;
  const model::forward_fn forward = [&](std::span<const int32_t> tokens, kv::sequence_kv& kv,
                                        const model::hybrid_model::layer_hook& hook) {
    const int rows = static_cast<int>(tokens.size());
    const int first = kv.tokens();
    if (uncached == 0) {
      start = clock::now();
      uncached = static_cast<int>(prompt.size()) - first;
      seconds_per_token = prefill_seconds(uncached) / uncached;
    }
    uint64_t h = state_hash(kv);
    for (int32_t t : tokens) {
      PRFAAS_REQUIRE(t >= 0 && t < layout_.vocab, "token id out of range");
      h = fold(h, t);
    }
    PRFAAS_REQUIRE(first + rows <= layout_.max_context, "sequence longer than the model's context");
    kv.reserve(first + rows);
    kv.set_tokens(first + rows);
    set_state_hash(kv, h);
    hash = h;
    for (int l = 0; l < layout_.n_layers; ++l) {
      const double at = seconds_per_token * (done + rows * double(l + 1) / layout_.n_layers);
      std::this_thread::sleep_until(start + std::chrono::duration_cast<clock::duration>(std::chrono::duration<double>(at)));
      if (hook) hook(l);
    }
    done += rows;
    return std::vector<float>{};
  };
  const auto r = model::cached_prefill(layout_, forward, cache, prompt, kv, on_final, after_layer);
  prefill_output out{0, r.cached_tokens, r.computed_tokens, {}};
  const model::token_choice how{sampling, prompt, {}, &out.first_logprobs};
  out.first_token = chosen(hash, how);
  how.report_without_logits(out.first_token);
  return out;
}

int32_t emulated_engine::decode_step(int32_t token, kv::sequence_kv& kv, const model::token_choice& how) const {
  PRFAAS_REQUIRE(token >= 0 && token < layout_.vocab, "token id out of range");
  const uint64_t h = fold(state_hash(kv), token);
  kv.reserve(kv.tokens() + 1);
  kv.set_tokens(kv.tokens() + 1);
  set_state_hash(kv, h);
  const int32_t next = chosen(h, how);
  how.report_without_logits(next);
  return next;
}

std::chrono::nanoseconds emulated_engine::step_floor() const {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::duration<double>(profile_.t_decode_s / time_scale_));
}

}  // namespace prfaas::engine

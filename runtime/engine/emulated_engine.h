#pragma once
// An engine that computes nothing and takes the time a hardware profile says: a prefill of u
// uncached tokens lasts T_prefill(u) / time_scale, a decode step T_decode / time_scale for a
// whole batch of up to BS_max sequences.  Its KV has the profile's size per token divided by
// kv_scale and really crosses the transport, layer by layer; so one machine can host a whole
// case-study deployment (profiles/h200-1t-hybrid.toml, h20-1t-hybrid.toml) and the live router
// meets the loads, bytes and times the simulator models.
//
// Its tokens are a seeded hash of the prompt, carried the way a linear-attention layer carries
// its state: every linear layer's state begins with the running hash of the tokens so far, the
// prefill folds the prompt into it and each decode step folds its token in.  So the output is
// deterministic ("same output whichever path, whatever failed" can be checked), a sequence whose
// state did not arrive intact decodes differently, and the prefix cache's state snapshots work
// as they do for the tiny model.  Tokens are the bytes ' ' and 'a'..'z'.

#include <cstdint>
#include <string>

#include "runtime/profile/emulated_layout.h"
#include "runtime/engine/engine.h"
#include "runtime/profile/instance_profile.h"

namespace prfaas::engine {

class emulated_engine final : public engine {
 public:
  // `layout` from make_emulated_layout (of the decode side's profile: S_kv is the model's).
  emulated_engine(model::model_config layout, profile::instance_profile profile, double time_scale, uint64_t seed);

  const model::model_config& layout() const override { return layout_; }
  prefill_output prefill(kv::prefix_cache* cache, std::span<const int32_t> prompt, kv::sequence_kv& kv,
                         const model::payload_hook& on_final = {},
                         const std::function<void(int layer)>& after_layer = {},
                         const model::sampling_params* sampling = nullptr) const override;
  // Without logits, sampling is played too: a sampled choice mixes its draw into the hash.
  int32_t decode_step(int32_t token, kv::sequence_kv& kv, const model::token_choice& how = {}) const override;
  std::chrono::nanoseconds step_floor() const override;
  int max_batch() const override { return profile_.bs_max; }

  // Wall seconds a prefill of `uncached` tokens takes here.
  double prefill_seconds(int uncached) const { return profile_.t_prefill(uncached) / time_scale_; }
  const profile::instance_profile& profile() const { return profile_; }

 private:
  uint64_t state_hash(const kv::sequence_kv& kv) const;
  void set_state_hash(kv::sequence_kv& kv, uint64_t h) const;

  model::model_config layout_;
  profile::instance_profile profile_;
  double time_scale_;
  uint64_t seed_;
};

}  // namespace prfaas::engine

#pragma once
// The KV layout of an emulated engine (runtime/engine/emulated_engine.h): a model shape with no weights whose
// sequences hold a hardware profile's KV bytes, scaled down so that loopback carries them.
// It is a reading of a profile (the config reads it too), so it lives beside the profile, not the engine.

#include <string>

#include "runtime/model/config.h"
#include "runtime/profile/instance_profile.h"

namespace prfaas::profile {

// The KV layout that carries `profile`'s S_kv(l) (fitted as a + b l over its table: state
// bytes a, bytes per token b) divided by kv_scale: 2 full-attention layers among 8, 512-token
// blocks.  The full layers' width is rounded to 32 bytes per token, so the scale achieved
// (effective_kv_scale) may differ a little from the one asked; the states follow it.
struct emulated_layout {
  model::model_config layout;
  double effective_kv_scale = 1;
  double state_bytes = 0;       // a, unscaled
  double bytes_per_token = 0;   // b, unscaled
};
emulated_layout make_emulated_layout(const profile::instance_profile& profile, double kv_scale, int max_context,
                                     const std::string& description);

}  // namespace prfaas::profile

#pragma once
// A tiny model shape for unit tests: every layer kind, several KV blocks for short prompts,
// milliseconds per prefill.

#include "runtime/model/config.h"

namespace prfaas::testing {

inline model::model_config small_model() {
  model::model_config c;
  c.d_model = 64; c.n_layers = 4; c.heads = 4; c.kv_heads = 2; c.head_dim = 16;
  c.linear_heads = 2; c.linear_key_dim = 16; c.linear_value_dim = 16; c.ffn_dim = 128;
  c.block_tokens = 8; c.max_context = 256;
  return c;
}

}  // namespace prfaas::testing

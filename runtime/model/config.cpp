#include "runtime/model/config.h"

#include <sstream>

#include "runtime/common/errc.h"

namespace prfaas::model {

int model_config::full_layers() const {
  int n = 0;
  for (int l = 0; l < n_layers; ++l) n += kind(l) == layer_kind::full;
  return n;
}

int64_t model_config::weight_bytes() const {
  const int64_t d = d_model;
  int64_t floats = 2 * int64_t{vocab} * d + d;  // embedding, lm head, final norm
  for (int l = 0; l < n_layers; ++l) {
    floats += 2 * d + 3 * d * ffn_dim;  // norms, gated FFN
    if (kind(l) == layer_kind::full)
      floats += 2 * d * heads * int64_t{head_dim} + 2 * d * kv_heads * int64_t{head_dim};
    else
      floats += 2 * d * linear_heads * int64_t{linear_key_dim} + 2 * d * linear_heads * int64_t{linear_value_dim} +
                2 * d * linear_heads;
  }
  return floats * 4;
}

void model_config::validate() const {
  auto check = [](bool ok, const char* what) {
    if (!ok) throw failure(errc::bad_config, std::string("model: invalid ") + what);
  };
  check(vocab == 256, "vocab (the byte-level tokenizer needs 256)");
  check(d_model > 0 && d_model % 8 == 0 && d_model <= 16384, "d_model (a multiple of 8, at most 16384)");
  check(n_layers > 0 && n_layers <= 256, "n_layers (1..256)");
  check(linear_per_full >= 0 && linear_per_full <= 64, "linear_per_full (0..64)");
  check(heads > 0 && kv_heads > 0 && heads % kv_heads == 0 && heads <= 256, "heads (a multiple of kv_heads, at most 256)");
  check(head_dim > 0 && head_dim % 2 == 0 && head_dim <= 1024, "head_dim (positive, even, at most 1024)");
  check(linear_heads > 0 && linear_key_dim > 0 && linear_value_dim > 0 && linear_heads <= 256 &&
            linear_key_dim <= 1024 && linear_value_dim <= 1024,
        "linear head shape (heads at most 256, key and value dims at most 1024)");
  check(ffn_dim > 0 && ffn_dim <= 65536, "ffn_dim (1..65536)");
  // The weights live in every node's memory: at most 4 GiB of them.
  check(weight_bytes() <= (int64_t{4} << 30), "shape: its weights would exceed 4 GiB");
  check(linear_state_bytes() % 8 == 0, "linear head shape (state bytes must be a multiple of 8)");
  check(max_context > 1 && max_context <= (1 << 20), "max_context (2..1048576)");
  check(block_tokens > 0 && block_tokens <= 4096, "block_tokens (1..4096)");
  check(rope_theta > 0 && norm_eps > 0, "rope_theta / norm_eps");
}

std::string model_config::fingerprint() const {
  std::ostringstream s;
  s << engine << " vocab=" << vocab << " d=" << d_model << " layers=" << n_layers
    << " linear_per_full=" << linear_per_full << " heads=" << heads << " kv_heads=" << kv_heads
    << " head_dim=" << head_dim << " linear_heads=" << linear_heads << " dk=" << linear_key_dim
    << " dv=" << linear_value_dim << " ffn=" << ffn_dim << " ctx=" << max_context
    << " block=" << block_tokens << " theta=" << rope_theta << " eps=" << norm_eps
    << " seed=" << seed;
  return s.str();
}

}  // namespace prfaas::model

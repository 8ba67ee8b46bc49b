#include "runtime/model/config.h"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "runtime/common/errc.h"
#include "runtime/model/tensor_names.h"

namespace prfaas::model {

const char* name(architecture a) {
  return a == architecture::qwen3_5_text ? "qwen3_5_text" : "qwen3_next";
}

bool model_config::moe(int layer) const {
  return experts > 0 && std::find(mlp_only_layers.begin(), mlp_only_layers.end(), layer) == mlp_only_layers.end() &&
         (layer + 1) % decoder_sparse_step == 0;
}

kv::layout model_config::kv_layout() const {
  kv::layout l;
  for (int i = 0; i < n_layers; ++i) l.layers.push_back(kind(i));
  l.block_tokens = block_tokens;
  l.max_context = max_context;
  l.kv_heads = kv_heads;
  l.head_dim = head_dim;
  l.conv_kernel = conv_kernel;
  l.conv_channels = conv_channels();
  l.value_heads = linear_heads;
  l.key_heads = key_heads();
  l.key_dim = linear_key_dim;
  l.value_dim = linear_value_dim;
  return l;
}

int model_config::full_layers() const {
  int n = 0;
  for (int l = 0; l < n_layers; ++l) n += kind(l) == layer_kind::full;
  return n;
}

int model_config::rotary_dim() const {
  // As the reference: int(head_dim * partial_rotary_factor), frequencies over pairs of it.
  return static_cast<int>(static_cast<float>(head_dim) * rotary_fraction) / 2 * 2;
}

int64_t model_config::weight_count() const {
  int64_t n = 0;
  for (const auto& t : checkpoint_tensors(*this)) n += t.elements();
  return n;
}

void model_config::validate() const {
  auto check = [](bool ok, const char* what) {
    if (!ok) throw failure(errc::bad_config, std::string("model: invalid ") + what);
  };
  check(vocab >= 2 && vocab <= (1 << 20), "vocab (2..1048576)");
  check(d_model > 0 && d_model % 8 == 0 && d_model <= 16384, "d_model (a multiple of 8, at most 16384)");
  check(n_layers > 0 && n_layers <= 256, "n_layers (1..256)");
  check(linear_per_full >= 0 && linear_per_full <= 64, "linear_per_full (0..64)");
  check(layer_types.empty() || static_cast<int>(layer_types.size()) == n_layers,
        "layer_types (one per layer)");
  check(heads > 0 && kv_heads > 0 && heads % kv_heads == 0 && heads <= 256, "heads (a multiple of kv_heads, at most 256)");
  check(head_dim > 0 && head_dim % 2 == 0 && head_dim <= 1024, "head_dim (positive, even, at most 1024)");
  check(rotary_fraction > 0 && rotary_fraction <= 1 && rotary_dim() >= 2, "rotary_fraction (partial_rotary_factor in (0, 1], at least 2 rotary dims)");
  check(linear_key_heads >= 0 && linear_heads > 0 && linear_key_dim > 0 && linear_value_dim > 0 &&
            linear_heads <= 256 && linear_key_dim <= 1024 && linear_value_dim <= 1024,
        "linear head shape (heads at most 256, key and value dims at most 1024)");
  check(linear_heads % key_heads() == 0, "linear_key_heads (must divide the value heads)");
  check(conv_kernel >= 1 && conv_kernel <= 16, "conv_kernel (linear_conv_kernel_dim, 1..16)");
  check(ffn_dim > 0 && ffn_dim <= 65536, "ffn_dim (1..65536)");
  check(experts >= 0 && experts <= 4096, "experts (0..4096)");
  if (experts > 0) {
    check(experts_per_token >= 1 && experts_per_token <= experts, "experts_per_token (1..experts)");
    check(expert_ffn_dim > 0 && expert_ffn_dim <= 65536, "expert_ffn_dim (moe_intermediate_size, 1..65536)");
    check(shared_expert_ffn_dim >= 0 && shared_expert_ffn_dim <= 65536, "shared_expert_ffn_dim (0..65536)");
    check(decoder_sparse_step >= 1 && decoder_sparse_step <= n_layers, "decoder_sparse_step (1..n_layers)");
  }
  for (int l : mlp_only_layers) check(l >= 0 && l < n_layers, "mlp_only_layers (layer indices)");
  // The weights live in every node's memory as f32: at most 32 GiB of them.
  check(weight_bytes() <= (int64_t{32} << 30), "shape: its weights would exceed 32 GiB");
  check(linear_state_bytes() % 8 == 0, "linear head shape (state bytes must be a multiple of 8)");
  check(max_context > 1 && max_context <= (1 << 20), "max_context (2..1048576)");
  check(block_tokens > 0 && block_tokens <= 4096, "block_tokens (1..4096)");
  check(rope_theta > 0 && std::isfinite(rope_theta) && norm_eps > 0 && norm_eps < 1, "rope_theta / norm_eps");
}

std::string model_config::fingerprint() const {
  std::ostringstream s;
  s << engine << " arch=" << name(arch) << " vocab=" << vocab << " d=" << d_model << " layers=" << n_layers << " kinds=";
  for (int l = 0; l < n_layers; ++l) s << (kind(l) == layer_kind::full ? 'F' : 'L');
  s << " heads=" << heads << " kv_heads=" << kv_heads << " head_dim=" << head_dim << " rot=" << rotary_dim()
    << " lin=" << key_heads() << "/" << linear_heads << " dk=" << linear_key_dim << " dv=" << linear_value_dim
    << " conv=" << conv_kernel << " ffn=" << ffn_dim << " moe=" << experts << "/" << experts_per_token << "/"
    << expert_ffn_dim << "/" << shared_expert_ffn_dim << "/" << norm_topk_prob << "/" << decoder_sparse_step
    << " mlp_only=";
  for (int l : mlp_only_layers) s << l << ",";
  s << " tie=" << tie_embeddings << " ctx=" << max_context << " block=" << block_tokens << " theta=" << rope_theta
    << " eps=" << norm_eps;
  if (weights_hash.empty())
    s << " seed=" << seed;
  else
    s << " weights=" << weights_hash;
  return s.str();
}

}  // namespace prfaas::model

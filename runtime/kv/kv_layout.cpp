#include "runtime/kv/kv_layout.h"

namespace prfaas::kv {

std::string layout_descriptor(const model::model_config& c) {
  std::string kinds;
  for (int l = 0; l < c.n_layers; ++l) kinds += c.kind(l) == model::layer_kind::full ? 'F' : 'L';
  if (kinds.size() > 64) kinds = std::to_string(c.full_layers()) + "F/" + std::to_string(c.n_layers) + "@" +
                                 std::to_string(std::hash<std::string>{}(kinds) & 0xffffffff);
  const auto n = [](long v) { return std::to_string(v); };
  return "kv1 f32 layers=" + kinds + " block=" + n(c.block_tokens) + " full=KT[" + n(c.kv_heads) + "][" +
         n(c.head_dim) + "][B]+V[B][" + n(c.kv_heads) + "][" + n(c.head_dim) + "] lin=conv[" + n(c.conv_kernel - 1) +
         "][" + n(c.conv_channels()) + "]+S[" + n(c.linear_heads) + "][" + n(c.linear_key_dim) + "][" +
         n(c.linear_value_dim) + "] keyheads=" + n(c.key_heads());
}

}  // namespace prfaas::kv

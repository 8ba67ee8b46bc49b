#include "runtime/kv/kv_layout.h"

#include <functional>

namespace prfaas::kv {

int layout::full_layers() const {
  int n = 0;
  for (auto k : layers) n += k == layer_kind::full;
  return n;
}

std::string layout_descriptor(const layout& l) {
  std::string kinds;
  for (auto k : l.layers) kinds += k == layer_kind::full ? 'F' : 'L';
  if (kinds.size() > 64) kinds = std::to_string(l.full_layers()) + "F/" + std::to_string(l.n_layers()) + "@" +
                                 std::to_string(std::hash<std::string>{}(kinds) & 0xffffffff);
  const auto n = [](long v) { return std::to_string(v); };
  return "kv1 f32 layers=" + kinds + " block=" + n(l.block_tokens) + " full=KT[" + n(l.kv_heads) + "][" +
         n(l.head_dim) + "][B]+V[B][" + n(l.kv_heads) + "][" + n(l.head_dim) + "] lin=conv[" + n(l.conv_kernel - 1) +
         "][" + n(l.conv_channels) + "]+S[" + n(l.value_heads) + "][" + n(l.key_dim) + "][" + n(l.value_dim) +
         "] keyheads=" + n(l.key_heads);
}

}  // namespace prfaas::kv

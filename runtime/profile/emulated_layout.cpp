#include "runtime/profile/emulated_layout.h"

#include <algorithm>
#include <cmath>

#include "runtime/common/errc.h"

namespace prfaas::profile {
namespace {

constexpr int kLayers = 8;          // 3 linear : 1 full, the case-study model's ratio
constexpr int kBlockTokens = 512;
constexpr int kKeyDim = 64;         // linear state = 4 x heads x key dim x value dim bytes

}  // namespace

emulated_layout make_emulated_layout(const profile::instance_profile& p, double kv_scale, int max_context,
                                     const std::string& description) {
  PRFAAS_REQUIRE(kv_scale >= 1, "kv_scale must be at least 1");
  const size_t n = p.lengths.size();
  PRFAAS_REQUIRE(n >= 2, "an emulated engine needs a profile with S_kv at two lengths at least");
  // Least-squares line through the profile's (l, S_kv(l)) points.
  double sx = 0, sy = 0, sxx = 0, sxy = 0;
  for (size_t i = 0; i < n; ++i) {
    const double x = p.lengths[i], y = p.s_kv_bytes(x);
    sx += x; sy += y; sxx += x * x; sxy += x * y;
  }
  emulated_layout out;
  out.bytes_per_token = (n * sxy - sx * sy) / (n * sxx - sx * sx);
  out.state_bytes = std::max(0.0, (sy - out.bytes_per_token * sx) / n);
  PRFAAS_REQUIRE(out.bytes_per_token > 0, "the profile's S_kv does not grow with the length");

  auto& c = out.layout;
  c.engine = "emulated " + description;
  c.n_layers = kLayers;
  c.linear_per_full = 3;
  c.d_model = 8;                     // no weights are ever made: the smallest valid shape
  c.ffn_dim = 8;
  c.heads = c.kv_heads = 1;
  c.block_tokens = kBlockTokens;
  c.max_context = max_context;
  const int full = c.full_layers(), linear = kLayers - full;
  // K and V, fp32, per full layer: 8 x head_dim bytes per token; head_dim even.
  const double want = out.bytes_per_token / kv_scale / (8.0 * full);
  c.head_dim = std::clamp(2 * static_cast<int>(std::lround(want / 2)), 2, 1024);
  out.effective_kv_scale = out.bytes_per_token / (8.0 * full * c.head_dim);
  const double state = out.state_bytes / out.effective_kv_scale / linear;  // per linear layer
  c.rotary_fraction = 1;             // any head_dim the profile asks for (2 at the least)
  c.conv_kernel = 1;                 // the state is sized by the profile alone: no conv history
  c.linear_key_dim = kKeyDim;
  c.linear_heads = std::clamp(static_cast<int>(std::ceil(state / (4.0 * kKeyDim * 1024))), 1, 256);
  c.linear_value_dim = std::clamp(static_cast<int>(std::lround(state / (4.0 * kKeyDim * c.linear_heads))), 2, 1024);
  c.validate();
  return out;
}

}  // namespace prfaas::profile

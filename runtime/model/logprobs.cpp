#include "runtime/model/logprobs.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace prfaas::model {

std::vector<float> log_softmax(std::span<const float> logits) {
  float mx = -INFINITY;
  for (float x : logits) mx = std::max(mx, x);
  double sum = 0;
  for (float x : logits) sum += std::exp(static_cast<double>(x) - mx);
  const double log_z = mx + std::log(sum);
  std::vector<float> out(logits.size());
  for (size_t i = 0; i < logits.size(); ++i) out[i] = static_cast<float>(logits[i] - log_z);
  return out;
}

std::vector<std::pair<int32_t, float>> top_logprobs(std::span<const float> lp, int n) {
  n = std::clamp(n, 0, static_cast<int>(lp.size()));
  std::vector<int32_t> ids(lp.size());
  std::iota(ids.begin(), ids.end(), 0);
  std::partial_sort(ids.begin(), ids.begin() + n, ids.end(),
                    [&](int32_t a, int32_t b) { return lp[a] > lp[b] || (lp[a] == lp[b] && a < b); });
  std::vector<std::pair<int32_t, float>> out;
  for (int i = 0; i < n; ++i) out.emplace_back(ids[i], lp[ids[i]]);
  return out;
}

}  // namespace prfaas::model

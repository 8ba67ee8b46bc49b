#include "runtime/policy/link_capacity.h"

#include <algorithm>
#include <cmath>

namespace prfaas::policy {

void link_capacity::said(double gbps) {
  gbps_ = gbps;
  told_ = gbps;
  from_ = source::said;
  nodes_.clear();
}

void link_capacity::measured(const std::string& node, double gbps) {
  if (gbps > 0) nodes_[node] = gbps;
  else nodes_.erase(node);
  double sum = 0;
  for (const auto& [name, g] : nodes_) sum += g;
  if (sum <= 0) return;  // all idle: the last value stays
  gbps_ = sum;
  from_ = source::measured;
}

std::optional<double> link_capacity::measured_change() {
  if (from_ != source::measured || std::abs(gbps_ - told_) < 0.1 * std::max(gbps_, told_)) return std::nullopt;
  const double before = told_;
  told_ = gbps_;
  return before;
}

void link_capacity::forget(const std::string& node) { nodes_.erase(node); }

const char* link_capacity::from_name() const {
  switch (from_) {
    case source::configured: return "configured";
    case source::said: return "said";
    case source::measured: return "measured";
  }
  return "unknown";
}

}  // namespace prfaas::policy

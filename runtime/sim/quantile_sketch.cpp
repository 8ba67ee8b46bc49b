#include "runtime/sim/quantile_sketch.h"

#include <algorithm>
#include <cmath>

namespace prfaas::sim {
namespace {

constexpr double kLowest = 1e-6;  // seconds
constexpr double kGrowth = 1.001;
const double kLogGrowth = std::log(kGrowth);
constexpr size_t kBuckets = 27700;  // kLowest * kGrowth^kBuckets: about 1e6 s

size_t bucket_of(double v) {
  if (!(v > kLowest)) return 0;
  const double b = std::log(v / kLowest) / kLogGrowth;
  return std::min(kBuckets - 1, static_cast<size_t>(b));
}

}  // namespace

quantile_sketch::quantile_sketch() : buckets_(kBuckets, 0) {}

void quantile_sketch::add(double value) {
  ++buckets_[bucket_of(value)];
  ++count_;
}

double quantile_sketch::quantile(double q) const {
  if (count_ == 0) return 0;
  const uint64_t rank = std::min(count_ - 1, static_cast<uint64_t>(std::clamp(q, 0.0, 1.0) * static_cast<double>(count_)));
  uint64_t seen = 0;
  for (size_t b = 0; b < buckets_.size(); ++b) {
    seen += buckets_[b];
    if (seen > rank) return kLowest * std::pow(kGrowth, static_cast<double>(b) + 0.5);
  }
  return kLowest * std::pow(kGrowth, static_cast<double>(kBuckets) - 0.5);
}

}  // namespace prfaas::sim

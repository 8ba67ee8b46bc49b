#pragma once
// Quantiles of a stream in fixed memory: a simulated run of a hundred million requests cannot
// keep every TTFT to sort.  Values land in logarithmic buckets, each 0.1 % wider than the last,
// from 1 us to about 12 days (27,700 buckets, 216 KiB); a quantile is its bucket's geometric
// middle, so it is within 0.05 % of a value the stream holds at that rank.  Values below the
// range count in the first bucket, above it in the last.  The same values in any order give
// the same answers.
//
//   quantile_sketch s;
//   for (double ttft : ttfts) s.add(ttft);
//   double p99 = s.quantile(0.99);

#include <cstdint>
#include <vector>

namespace prfaas::sim {

class quantile_sketch {
 public:
  quantile_sketch();
  void add(double value);
  // The value at rank floor(q * count) (q in [0, 1]), as nth_element picks it; 0 when empty.
  double quantile(double q) const;
  uint64_t count() const { return count_; }

 private:
  std::vector<uint64_t> buckets_;
  uint64_t count_ = 0;
};

}  // namespace prfaas::sim

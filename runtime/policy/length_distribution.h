#pragma once
// A distribution of uncached prompt lengths, in the form the throughput model needs:
// p(t) = P(L > t), E[L | L > t], E[L | L <= t], each in O(log n) over a sorted support with
// cumulative weights.  Built from a truncated log-normal (discretised in log space) or from
// samples (a trace's uncached lengths after prefix-cache hits).

#include <cstddef>
#include <cstdint>
#include <vector>

namespace prfaas::policy {

class length_distribution {
 public:
  // Log-normal with parameters mu, sigma (of ln L), truncated to [lo, hi]; `points` log-spaced
  // support points weighted by the density.
  static length_distribution truncated_lognormal(double mu, double sigma, double lo, double hi, int points = 4096);
  static length_distribution empirical(std::vector<double> samples);

  double prob_above(double t) const;       // p
  double mean_above(double t) const;       // l_long; 0 when nothing lies above t
  double mean_at_or_below(double t) const; // l_short; 0 when nothing lies at or below t
  double mean() const { return mean_at_or_below(max()); }
  double min() const { return values_.front(); }
  double max() const { return values_.back(); }
  // Thresholds worth trying: where p changes.  At most `points` of them (quantiles when the
  // support is larger), plus one below the minimum (offload everything) and the maximum
  // (offload nothing).
  std::vector<double> threshold_grid(size_t points) const;
  // A sample by inverse CDF from u in [0, 1).
  double quantile(double u) const;

 private:
  std::vector<double> values_;  // sorted, distinct
  std::vector<double> cum_w_;   // weight of values_[0..i], the last is 1
  std::vector<double> cum_wx_;  // weighted sum of values_[0..i]
  size_t count_at_or_below(double t) const;
};

}  // namespace prfaas::policy

#include "runtime/policy/length_distribution.h"

#include <algorithm>
#include <cmath>
#include <map>

#include "runtime/common/errc.h"

namespace prfaas::policy {
length_distribution length_distribution::truncated_lognormal(double mu, double sigma, double lo, double hi, int points) {
  PRFAAS_REQUIRE(sigma > 0 && lo > 0 && hi > lo && points > 1, "bad log-normal parameters");
  std::map<double, double> w;
  const double a = std::log(lo), b = std::log(hi);
  for (int i = 0; i < points; ++i) {
    const double y = a + (i + 0.5) * (b - a) / points;  // ln L, equally spaced
    const double z = (y - mu) / sigma;
    w[std::exp(y)] += std::exp(-0.5 * z * z);           // density of ln L; equal widths
  }
  length_distribution d;
  double total = 0, sum = 0;
  for (auto& [x, wt] : w) total += wt;
  for (auto& [x, wt] : w) {
    d.values_.push_back(x);
    sum += wt / total;
    d.cum_w_.push_back(sum);
    d.cum_wx_.push_back((d.cum_wx_.empty() ? 0 : d.cum_wx_.back()) + wt / total * x);
  }
  d.cum_w_.back() = 1.0;
  return d;
}

length_distribution length_distribution::empirical(std::vector<double> samples) {
  PRFAAS_REQUIRE(!samples.empty(), "an empirical distribution needs samples");
  std::sort(samples.begin(), samples.end());
  length_distribution d;
  const double n = static_cast<double>(samples.size());
  for (size_t i = 0; i < samples.size(); ++i) {
    const bool last_of_value = i + 1 == samples.size() || samples[i + 1] != samples[i];
    if (!last_of_value) continue;
    d.values_.push_back(samples[i]);
    d.cum_w_.push_back((i + 1) / n);
  }
  // Weighted sums from the counts.
  double acc = 0, prev = 0;
  for (size_t i = 0; i < d.values_.size(); ++i) {
    acc += (d.cum_w_[i] - prev) * d.values_[i];
    prev = d.cum_w_[i];
    d.cum_wx_.push_back(acc);
  }
  d.cum_w_.back() = 1.0;
  return d;
}

size_t length_distribution::count_at_or_below(double t) const {
  return static_cast<size_t>(std::upper_bound(values_.begin(), values_.end(), t) - values_.begin());
}

double length_distribution::prob_above(double t) const {
  const size_t k = count_at_or_below(t);
  return k == 0 ? 1.0 : 1.0 - cum_w_[k - 1];
}

double length_distribution::mean_above(double t) const {
  const size_t k = count_at_or_below(t);
  const double w = k == 0 ? 1.0 : 1.0 - cum_w_[k - 1];
  if (w <= 1e-15) return 0;
  return (cum_wx_.back() - (k == 0 ? 0 : cum_wx_[k - 1])) / w;
}

double length_distribution::mean_at_or_below(double t) const {
  const size_t k = count_at_or_below(t);
  if (k == 0 || cum_w_[k - 1] <= 1e-15) return 0;
  return cum_wx_[k - 1] / cum_w_[k - 1];
}

std::vector<double> length_distribution::threshold_grid(size_t points) const {
  std::vector<double> grid = {values_.front() - 1};
  if (values_.size() <= points) {
    grid.insert(grid.end(), values_.begin(), values_.end());
  } else {
    for (size_t i = 1; i <= points; ++i) grid.push_back(quantile(static_cast<double>(i) / (points + 1)));
    grid.push_back(values_.back());
  }
  std::sort(grid.begin(), grid.end());
  grid.erase(std::unique(grid.begin(), grid.end()), grid.end());
  return grid;
}

double length_distribution::quantile(double u) const {
  const size_t i = static_cast<size_t>(std::lower_bound(cum_w_.begin(), cum_w_.end(), u) - cum_w_.begin());
  return values_[std::min(i, values_.size() - 1)];
}

}  // namespace prfaas::policy

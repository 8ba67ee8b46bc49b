#include "runtime/policy/throughput_model.h"

#include <algorithm>
#include <limits>

namespace prfaas::policy {

throughput_point evaluate(const profile::instance_profile& prfaas, const profile::instance_profile& pd,
                          const deployment_shape& shape, const length_distribution& lengths, double threshold) {
  constexpr double inf = std::numeric_limits<double>::infinity();
  throughput_point r;
  r.shape = shape;
  r.threshold = threshold;
  r.p = lengths.prob_above(threshold);
  r.l_long = lengths.mean_above(threshold);
  r.l_short = lengths.mean_at_or_below(threshold);
  const double link_bytes_s = shape.link_gbps * 1e9 / 8;
  if (r.p > 0) {
    const double compute = shape.n_prfaas / prfaas.t_prefill(r.l_long);
    const double egress = link_bytes_s / prfaas.s_kv_bytes(r.l_long);
    r.theta_prfaas = std::min(compute, egress);
  }
  if (r.p < 1) r.theta_pd_p = shape.n_p / pd.t_prefill(r.l_short);
  r.theta_pd_d = shape.n_d * pd.bs_max / (pd.t_decode_s * shape.output_tokens);
  const double by_prfaas = r.p > 0 ? r.theta_prfaas / r.p : inf;
  const double by_pd_p = r.p < 1 ? r.theta_pd_p / (1 - r.p) : inf;
  r.lambda_max = std::min({by_prfaas, by_pd_p, r.theta_pd_d});
  if (r.p > 0) {
    r.egress_gbps = r.lambda_max * r.p * prfaas.s_kv_bytes(r.l_long) * 8 / 1e9;
    r.link_utilisation = shape.link_gbps > 0 ? r.egress_gbps / shape.link_gbps : 0;
  }
  return r;
}

}  // namespace prfaas::policy

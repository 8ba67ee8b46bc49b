#include "runtime/policy/rebalancer.h"

namespace prfaas::policy {

int rebalance(const rebalance_inputs& in, const rebalance_options& o) {
  if (in.pd_prefill_busy > o.busy && in.decode_occupancy < o.idle && in.n_d > 1) return +1;
  if (in.decode_occupancy > o.busy && in.pd_prefill_busy < o.idle && in.n_p > 1) return -1;
  return 0;
}

}  // namespace prfaas::policy

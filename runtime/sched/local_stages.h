#pragma once
// The local PD cluster's two stages as the live rebalancer sees them through the control-plane
// core: how busy local prefill is and how full decode is (sampled over a period), which nodes may
// change role, and which one goes when policy::rebalance says so.  The router's actor only
// calls these and holds the sums; the rule itself is policy::rebalance, the simulator's.

#include <optional>
#include <string>

#include "runtime/common/errc.h"
#include "runtime/policy/rebalancer.h"
#include "runtime/sched/core.h"

namespace prfaas::sched {

// Sums of samples over one rebalance period.
class stage_samples {
 public:
  // One sample: the share of local prefill nodes holding a prefill, and of decode slots held.
  void add(const core& c);
  bool empty() const { return samples_ == 0; }
  // The period's means and the local nodes accepting work in each role; starts a new period.
  policy::rebalance_inputs take(const core& c);

 private:
  int samples_ = 0;
  double prefill_busy_ = 0, decode_occupancy_ = 0;
};

// Why local node `name` may not become a `to` node now (false: it may).  `converting`: a
// conversion of it is under way already.
struct refusal {
  errc code = errc::invalid_argument;
  std::string why;
  explicit operator bool() const { return !why.empty(); }
};
refusal conversion_refusal(const core& c, const std::string& name, const std::string& to, bool converting);

// The node a rebalancer's move converts (+1: a decode node becomes prefill, -1: the reverse):
// the first accepting local node of the other role in name order; none when there is none.
std::optional<std::string> conversion_candidate(const core& c, int move);

}  // namespace prfaas::sched

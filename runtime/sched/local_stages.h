#pragma once
// Conversions of the local PD cluster's nodes, as the control plane (control_plane.h) decides
// them through the core: which nodes may change role, and which one goes when policy::rebalance
// says so.

#include <optional>
#include <string>

#include "runtime/common/errc.h"
#include "runtime/policy/rebalancer.h"
#include "runtime/sched/core.h"

namespace prfaas::sched {

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

#pragma once
// Invariants of the control-plane core, checked beside it in tests and simulations (the way
// FoundationDB's workloads check a database under simulation):
//
//   - every request that arrived ends exactly once (one reply), and none ends unannounced;
//   - a node's load equals the requests the core has assigned it and not released;
//   - a request in the table is in a live phase, and holds only nodes that are up;
//   - at the end of a run, nothing is left in flight.
//
//   sched::request_checker checker;
//   core.handle(e, now, out);
//   checker.after(e, out, core);          // after every step
//   ...
//   checker.at_end(core);
//   REQUIRE(checker.violations().empty());
//
// Cost: after() scans the core's nodes and requests; `full_scan_every` spaces the scans out for
// long runs (replies are checked on every step whatever it is).

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "runtime/sched/core.h"

namespace prfaas::sched {

class request_checker {
 public:
  explicit request_checker(int full_scan_every = 1, size_t max_violations = 32)
      : every_(full_scan_every), max_violations_(max_violations) {}

  void after(const event& e, const commands& out, const core& c);
  void at_end(const core& c);

  const std::vector<std::string>& violations() const { return violations_; }
  int64_t arrived() const { return arrived_; }
  int64_t ended() const { return ended_; }
  int64_t steps() const { return steps_; }

 private:
  void scan(const core& c);
  void violation(std::string what);

  int every_;
  size_t max_violations_;
  int64_t steps_ = 0, arrived_ = 0, ended_ = 0;
  std::unordered_map<request_id, int> state_;  // 1: in flight, 2: ended
  std::vector<std::string> violations_;
};

}  // namespace prfaas::sched

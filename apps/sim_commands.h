#pragma once
// `prfaas plan` and `prfaas sim`: CLI glue over runtime/policy (planner) and runtime/sim.

#include <cstdint>
#include <string>

namespace prfaas::apps {

int plan_command(const std::string& scenario_path, bool as_json);

struct sim_command_options {
  std::string scenario, trace, out_dir;
  long requests = 0;   // 0: the scenario's (a trace: all of it)
  uint64_t seed = 0;   // 0: the scenario's
  double threshold = -1;  // < 0: the planned t
  int n_p = 0;            // 0: the planned split
  bool as_json = false;
};
int sim_command(const sim_command_options& options);

}  // namespace prfaas::apps

#pragma once
// The checker of a fault-injection run: it reads every request's outcome and verifies what the
// design promises under faults, against a fault-free reference run of the same requests:
//   - every request ended exactly once (none lost, none answered twice);
//   - a completed request's output equals the reference's (greedy output is deterministic), and
//     so do its log-probabilities when both runs asked for them (the same top ids, each value
//     within kLogprobTolerance: a batch of another shape may round otherwise);
//   - a failed one names its cause (an error code, not silence);
//   - none ended later than its deadline (plus a margin for the client's own exit);
//   - at least `min_completed` of them completed.
// Used by `prfaas check` on the outcome files `prfaas replay --outcomes` writes, and by the
// fault-matrix tests.
//
//   auto report = faults::check_outcomes(run, reference, {.min_completed = 0.95});
//   if (!report.ok()) for (auto& p : report.problems) puts(p.c_str());

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "runtime/common/token_logprobs.h"

namespace prfaas::faults {

inline constexpr float kLogprobTolerance = 1e-3f;

struct request_outcome {
  std::string id;                 // the request's name in the workload (its index, a prompt id)
  bool completed = false;
  std::vector<int32_t> tokens;    // completed: the output
  std::string error;              // failed: "code: what"
  double seconds = 0;             // from send to answer
  double deadline_s = 0;          // the request's deadline (0: none)
  std::vector<token_logprobs> logprobs;  // completed, when asked for: one per output token
};

struct check_options {
  double min_completed = 0.95;    // fraction of requests that must complete
  double deadline_margin_s = 5;   // past its deadline by more than this: hung
};

struct outcome_report {
  int requests = 0, completed = 0, errors = 0;
  int lost = 0;        // in the reference, never answered in the run
  int duplicated = 0;  // answered more than once
  int wrong = 0;       // completed with an output other than the reference's
  int unnamed = 0;     // failed without a cause
  int hung = 0;        // answered past its deadline
  double min_completed = 0;
  std::vector<std::string> problems;  // one line per violation (the first 20)
  bool ok() const {
    return lost == 0 && duplicated == 0 && wrong == 0 && unnamed == 0 && hung == 0 &&
           completed >= min_completed * requests;
  }
};

// `reference`: the fault-free outputs by request id; `reference_logprobs`: their log-probabilities
// (by request id, for the requests that asked for them).
outcome_report check_outcomes(const std::vector<request_outcome>& run,
                              const std::map<std::string, std::vector<int32_t>>& reference, const check_options& options,
                              const std::map<std::string, std::vector<token_logprobs>>& reference_logprobs = {});

// One outcome per JSON line: {"id", "completed", "tokens", "error", "seconds", "deadline_s"}, and
// "logprobs" ([{"logprob", "top_ids", "top_logprobs"}], one per output token) when asked for.
nlohmann::json to_json(const request_outcome& o);
request_outcome outcome_from_json(const nlohmann::json& j);  // throws failure(invalid_argument)
std::vector<request_outcome> load_outcomes(const std::string& path);

}  // namespace prfaas::faults

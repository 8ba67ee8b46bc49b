#include "runtime/faults/outcome_check.h"

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>

#include "runtime/common/errc.h"

namespace prfaas::faults {
namespace {

constexpr size_t kMaxProblems = 20;

void note(outcome_report& r, const std::string& what) {
  if (r.problems.size() < kMaxProblems) r.problems.push_back(what);
}

// The first output position whose log-probabilities differ from the reference's (the same top
// ids, values within kLogprobTolerance), or -1.
int logprobs_differ(const std::vector<token_logprobs>& got, const std::vector<token_logprobs>& want) {
  const auto near = [](float a, float b) { return a - b <= kLogprobTolerance && b - a <= kLogprobTolerance; };
  for (size_t i = 0; i < std::max(got.size(), want.size()); ++i) {
    if (i >= got.size() || i >= want.size()) return static_cast<int>(i);
    const auto &g = got[i], &w = want[i];
    if (g.top_ids != w.top_ids || g.top_logprobs.size() != w.top_logprobs.size() || !near(g.logprob, w.logprob))
      return static_cast<int>(i);
    for (size_t k = 0; k < g.top_logprobs.size(); ++k)
      if (!near(g.top_logprobs[k], w.top_logprobs[k])) return static_cast<int>(i);
  }
  return -1;
}

}  // namespace

outcome_report check_outcomes(const std::vector<request_outcome>& run,
                              const std::map<std::string, std::vector<int32_t>>& reference, const check_options& o,
                              const std::map<std::string, std::vector<token_logprobs>>& reference_logprobs) {
  outcome_report r;
  r.min_completed = o.min_completed;
  r.requests = static_cast<int>(reference.size());
  std::map<std::string, int> answers;
  for (const auto& out : run) {
    if (++answers[out.id] > 1) {
      ++r.duplicated;
      note(r, "request " + out.id + " was answered more than once");
      continue;
    }
    auto ref = reference.find(out.id);
    if (ref == reference.end()) {
      note(r, "request " + out.id + " is not in the reference run");
      ++r.wrong;
      continue;
    }
    if (out.deadline_s > 0 && out.seconds > out.deadline_s + o.deadline_margin_s) {
      ++r.hung;
      note(r, "request " + out.id + " answered after " + std::to_string(out.seconds) + " s, past its deadline of " +
                  std::to_string(out.deadline_s) + " s");
    }
    if (out.completed) {
      ++r.completed;
      if (out.tokens != ref->second) {
        ++r.wrong;
        note(r, "request " + out.id + " completed with an output other than the fault-free one");
      } else if (auto lp = reference_logprobs.find(out.id); lp != reference_logprobs.end()) {
        if (const int at = logprobs_differ(out.logprobs, lp->second); at >= 0) {
          ++r.wrong;
          note(r, "request " + out.id + " completed with log-probabilities other than the fault-free ones (output token " +
                      std::to_string(at) + ")");
        }
      }
    } else {
      ++r.errors;
      // A named cause: "code: what", with a known code.
      const auto colon = out.error.find(':');
      if (out.error.empty() || colon == std::string::npos || colon == 0) {
        ++r.unnamed;
        note(r, "request " + out.id + " failed without a cause: '" + out.error + "'");
      }
    }
  }
  for (const auto& [id, tokens] : reference)
    if (!answers.count(id)) {
      ++r.lost;
      note(r, "request " + id + " was never answered");
    }
  if (r.completed < o.min_completed * r.requests)
    note(r, std::to_string(r.completed) + " of " + std::to_string(r.requests) + " completed, below " +
                std::to_string(static_cast<int>(o.min_completed * 100)) + " %");
  return r;
}

nlohmann::json to_json(const request_outcome& o) {
  nlohmann::json j{{"id", o.id}, {"completed", o.completed}, {"tokens", o.tokens}, {"error", o.error},
                   {"seconds", o.seconds}, {"deadline_s", o.deadline_s}};
  if (!o.logprobs.empty()) {
    auto& lps = j["logprobs"] = nlohmann::json::array();
    for (const auto& lp : o.logprobs)
      lps.push_back({{"logprob", lp.logprob}, {"top_ids", lp.top_ids}, {"top_logprobs", lp.top_logprobs}});
  }
  return j;
}

request_outcome outcome_from_json(const nlohmann::json& j) {
  try {
    request_outcome o;
    o.id = j.at("id").get<std::string>();
    o.completed = j.at("completed").get<bool>();
    o.tokens = j.value("tokens", std::vector<int32_t>{});
    o.error = j.value("error", std::string{});
    o.seconds = j.value("seconds", 0.0);
    o.deadline_s = j.value("deadline_s", 0.0);
    if (j.contains("logprobs")) {
      const auto& lps = j.at("logprobs");
      if (!lps.is_array() || lps.size() > o.tokens.size())
        throw failure(errc::invalid_argument, "logprobs: at most one entry per output token");
      for (const auto& e : lps) {
        token_logprobs lp;
        lp.logprob = e.at("logprob").get<float>();
        lp.top_ids = e.at("top_ids").get<std::vector<int32_t>>();
        lp.top_logprobs = e.at("top_logprobs").get<std::vector<float>>();
        if (lp.top_ids.size() != lp.top_logprobs.size() || lp.top_ids.size() > size_t{kMaxTopLogprobs})
          throw failure(errc::invalid_argument,
                        "logprobs: as many top ids as values, at most " + std::to_string(kMaxTopLogprobs));
        o.logprobs.push_back(std::move(lp));
      }
    }
    return o;
  } catch (const nlohmann::json::exception& e) {
    throw failure(errc::invalid_argument, std::string("not a request outcome: ") + e.what());
  }
}

std::vector<request_outcome> load_outcomes(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw failure(errc::invalid_argument, "cannot read outcomes from '" + path + "'");
  std::vector<request_outcome> out;
  std::string line;
  for (int n = 1; std::getline(in, line); ++n) {
    if (line.empty()) continue;
    try {
      out.push_back(outcome_from_json(nlohmann::json::parse(line)));
    } catch (const nlohmann::json::exception& e) {
      throw failure(errc::invalid_argument, path + ":" + std::to_string(n) + ": " + e.what());
    } catch (const failure& f) {
      throw failure(errc::invalid_argument, path + ":" + std::to_string(n) + ": " + f.what());
    }
  }
  return out;
}

}  // namespace prfaas::faults

// The fault-run checker: each rule it enforces fails a run that breaks it, and only that rule.

#include <catch2/catch.hpp>

#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>

#include "runtime/common/errc.h"
#include "runtime/faults/outcome_check.h"

using namespace prfaas;
using namespace prfaas::faults;

namespace {

std::map<std::string, std::vector<int32_t>> reference() { return {{"0", {1, 2}}, {"1", {3}}, {"2", {4, 5}}, {"3", {6}}}; }

std::vector<request_outcome> clean_run() {
  std::vector<request_outcome> run;
  for (const auto& [id, tokens] : reference()) run.push_back({id, true, tokens, "", 1.0, 60, {}});
  return run;
}

}  // namespace

TEST_CASE("a run that matches the reference passes") {
  const auto r = check_outcomes(clean_run(), reference(), {});
  CHECK(r.ok());
  CHECK(r.completed == 4);
  CHECK(r.problems.empty());
}

TEST_CASE("each broken promise is caught and named") {
  SECTION("a request never answered is lost") {
    auto run = clean_run();
    run.pop_back();
    const auto r = check_outcomes(run, reference(), {.min_completed = 0.5});
    CHECK(r.lost == 1);
    CHECK_FALSE(r.ok());
    CHECK_THAT(r.problems.front(), Catch::Contains("request 3 was never answered"));
  }
  SECTION("a request answered twice") {
    auto run = clean_run();
    run.push_back(run.front());
    const auto r = check_outcomes(run, reference(), {});
    CHECK(r.duplicated == 1);
    CHECK_FALSE(r.ok());
  }
  SECTION("an output other than the fault-free one is wrong") {
    auto run = clean_run();
    run[2].tokens = {4, 6};
    const auto r = check_outcomes(run, reference(), {});
    CHECK(r.wrong == 1);
    CHECK_FALSE(r.ok());
  }
  SECTION("an error must name its cause") {
    auto run = clean_run();
    run[1] = {"1", false, {}, "", 1.0, 60};
    const auto r = check_outcomes(run, reference(), {.min_completed = 0.5});
    CHECK(r.unnamed == 1);
    CHECK_FALSE(r.ok());
    run[1].error = "node_lost: decode-0 died";
    CHECK(check_outcomes(run, reference(), {.min_completed = 0.5}).ok());
  }
  SECTION("an answer past the deadline (and its margin) is a hang") {
    auto run = clean_run();
    run[0].seconds = 66;
    const auto r = check_outcomes(run, reference(), {.min_completed = 0.95, .deadline_margin_s = 5});
    CHECK(r.hung == 1);
    CHECK_FALSE(r.ok());
  }
  SECTION("too few completed, even with named errors") {
    auto run = clean_run();
    run[0] = {"0", false, {}, "deadline_exceeded: too slow", 1.0, 60};
    CHECK_FALSE(check_outcomes(run, reference(), {.min_completed = 0.95}).ok());
    CHECK(check_outcomes(run, reference(), {.min_completed = 0.75}).ok());
  }
}

TEST_CASE("outcomes round-trip through JSON lines, a malformed line is named") {
  const std::string path = "outcomes_test.jsonl";
  {
    std::ofstream out(path);
    for (const auto& o : clean_run()) out << to_json(o).dump() << "\n";
  }
  const auto back = load_outcomes(path);
  REQUIRE(back.size() == 4);
  CHECK(back[2].tokens == std::vector<int32_t>{4, 5});
  CHECK(check_outcomes(back, reference(), {}).ok());
  std::ofstream(path, std::ios::app) << "{\"id\": 7}\n";
  try {
    load_outcomes(path);
    FAIL("a line without 'completed' was accepted");
  } catch (const failure& f) {
    CHECK_THAT(f.what(), Catch::Contains(path + ":5"));
  }
  std::remove(path.c_str());
}

TEST_CASE("log-probabilities asked for in both runs must match: the same top ids, values within the tolerance") {
  const std::map<std::string, std::vector<token_logprobs>> want{{"0", {{-0.5f, {1, 7}, {-0.5f, -2.0f}}, {-0.1f, {2, 9}, {-0.1f, -3.0f}}}}};
  auto run = clean_run();
  run[0].logprobs = want.at("0");
  run[0].logprobs[1].logprob += kLogprobTolerance / 2;  // another batch's rounding
  CHECK(check_outcomes(run, reference(), {}, want).ok());
  SECTION("a first token's log-probabilities missing (as a router taking a request over once answered)") {
    run[0].logprobs[0] = {};
    const auto r = check_outcomes(run, reference(), {}, want);
    CHECK(r.wrong == 1);
    REQUIRE(r.problems.size() == 1);
    CHECK(r.problems[0].find("output token 0") != std::string::npos);
  }
  SECTION("none at all, another top id, or a value off by more than the tolerance") {
    auto none = run, other = run, off = run;
    none[0].logprobs.clear();
    other[0].logprobs[1].top_ids[1] = 8;
    off[0].logprobs[1].top_logprobs[1] -= 0.01f;
    for (const auto* r : {&none, &other, &off}) CHECK(check_outcomes(*r, reference(), {}, want).wrong == 1);
  }
  SECTION("they survive the outcome file") {
    const auto back = outcome_from_json(to_json(run[0]));
    CHECK(back.logprobs.size() == 2);
    CHECK(check_outcomes({back, run[1], run[2], run[3]}, reference(), {}, want).ok());
  }
}

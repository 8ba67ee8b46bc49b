// Where a request continues when its decode node is lost: the output so far, as chunks told it.

#include <catch2/catch.hpp>

#include "runtime/sched/resume.h"

using namespace prfaas::sched;

TEST_CASE("produced tokens keep the output in order from chunks that repeat or overlap, and ignore a chunk past a gap") {
  produced_tokens out;
  CHECK(out.add(0, std::vector<int32_t>{7}));
  CHECK(out.add(1, std::vector<int32_t>{8, 9}));
  CHECK(out.add(0, std::vector<int32_t>{7, 8}));       // known already
  CHECK(out.add(2, std::vector<int32_t>{9, 10, 11}));  // overlaps: the new part is kept
  CHECK_FALSE(out.add(7, std::vector<int32_t>{1}));    // a gap: nothing
  CHECK_FALSE(out.add(-1, std::vector<int32_t>{1}));
  CHECK(out.tokens() == std::vector<int32_t>{7, 8, 9, 10, 11});
}

TEST_CASE("a resumed attempt prefills the prompt and the output but its last token, which is the decode's next input") {
  const std::vector<int32_t> prompt{1, 2, 3}, output{40, 41, 42};
  const auto r = resume_from(prompt, output, false);
  REQUIRE(r);
  CHECK(r->prompt == std::vector<int32_t>{1, 2, 3, 40, 41});
  CHECK(r->output == output);
  CHECK(r->next_token() == 42);
  // Nothing produced yet, or log-probabilities asked for (only the lost node had them): start over.
  CHECK_FALSE(resume_from(prompt, std::vector<int32_t>{}, false));
  CHECK_FALSE(resume_from(prompt, output, true));
}

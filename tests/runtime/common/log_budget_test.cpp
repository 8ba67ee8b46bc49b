// A log budget lets a source write its first lines of every window and counts the rest, which
// the next allowed line reports.

#include <catch2/catch.hpp>

#include "runtime/common/log_budget.h"

using namespace prfaas;
using namespace std::chrono_literals;

TEST_CASE("a log budget allows its lines per window, counts the rest and reports them on the next line") {
  log_budget budget(3, 1000ms);
  const auto t0 = std::chrono::steady_clock::time_point{} + 5s;
  for (int i = 0; i < 3; ++i) {
    auto held = budget.allow(t0 + std::chrono::milliseconds(i));
    REQUIRE(held);
    CHECK(*held == 0);
  }
  for (int i = 0; i < 500; ++i) CHECK_FALSE(budget.allow(t0 + 10ms));  // a flood within the window
  CHECK(budget.held() == 500);
  auto next = budget.allow(t0 + 1000ms);  // a new window
  REQUIRE(next);
  CHECK(*next == 500);
  CHECK(budget.held() == 0);
}

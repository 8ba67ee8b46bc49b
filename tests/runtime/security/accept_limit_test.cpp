// An accept limit lets each address open its burst of connections at once and its rate after
// that; one address over its rate never takes another's.

#include <catch2/catch.hpp>

#include "runtime/security/accept_limit.h"

using namespace prfaas::security;
using namespace std::chrono_literals;

TEST_CASE("an address gets its burst at once, then its rate, and a flooding address never spends another's") {
  accept_limit limit({.per_second = 10, .burst = 20});
  const auto t0 = std::chrono::steady_clock::time_point{} + 100s;
  int flood = 0;
  for (int i = 0; i < 500; ++i) flood += limit.admit("10.0.0.66", t0);
  CHECK(flood == 20);
  CHECK(limit.admit("10.0.0.7", t0));  // another address: its own bucket
  CHECK(limit.refused() == 480);
  // A second later the flood has ten more, no more.
  int later = 0;
  for (int i = 0; i < 500; ++i) later += limit.admit("10.0.0.66", t0 + 1s);
  CHECK(later == 10);
}

TEST_CASE("an accept limit keeps a bounded number of addresses, forgetting idle ones first") {
  accept_limit limit({.per_second = 1, .burst = 2, .max_addresses = 3});
  const auto t0 = std::chrono::steady_clock::time_point{} + 100s;
  CHECK(limit.admit("a", t0));
  CHECK(limit.admit("b", t0));
  CHECK(limit.admit("c", t0));
  CHECK_FALSE(limit.admit("d", t0));      // three busy buckets: the newcomer waits
  CHECK(limit.admit("d", t0 + 5s));      // theirs refilled: forgotten, d takes a place
}

// A bounded memory recalls at most its capacity of entries and forgets the oldest insertion
// first; overwriting an entry keeps its place, forgetting one frees it at once.

#include <catch2/catch.hpp>

#include <string>

#include "runtime/common/bounded_memory.h"

using namespace prfaas;

TEST_CASE("a bounded memory recalls its last capacity of insertions, the oldest forgotten first") {
  bounded_memory<uint64_t, std::string> m(3);
  for (uint64_t k = 1; k <= 3; ++k) m.remember(k, "v" + std::to_string(k));
  m.remember(1, "again");  // an overwrite: 1 is still the oldest insertion
  REQUIRE(m.find(1) != nullptr);
  CHECK(*m.find(1) == "again");
  m.remember(4, "v4");
  CHECK(m.find(1) == nullptr);
  CHECK(m.size() == 3);
  for (uint64_t k = 2; k <= 4; ++k) {
    REQUIRE(m.find(k) != nullptr);
    CHECK(*m.find(k) == "v" + std::to_string(k));
  }
  m.forget(3);
  CHECK(m.find(3) == nullptr);
  CHECK(m.size() == 2);
  for (uint64_t k = 5; k < 1005; ++k) m.remember(k, "x");  // a long run stays within its bound
  CHECK(m.size() == 3);
  CHECK(m.find(1004) != nullptr);
  CHECK(m.find(1001) == nullptr);
}

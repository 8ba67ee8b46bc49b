// Fault points fire at their configured rate, from a seeded generator: the same seed fires the
// same faults; an unset point never fires.

#include <catch2/catch.hpp>

#include "runtime/faults/fault_points.h"

using namespace prfaas;

TEST_CASE("a fault point fires at its probability, reproducibly for a seed, and never when off") {
  fault_options o;
  o.seed = 42;
  o.drop_frame = 0.1;
  fault_injector a(o), b(o);
  std::vector<bool> fa, fb;
  for (int i = 0; i < 20000; ++i) {
    fa.push_back(a.fire(fault_point::drop_frame));
    fb.push_back(b.fire(fault_point::drop_frame));
  }
  CHECK(fa == fb);
  CHECK(a.fired(fault_point::drop_frame) == Approx(2000).margin(200));
  for (int i = 0; i < 1000; ++i) CHECK_FALSE(a.fire(fault_point::crash_role));
  CHECK(a.fired(fault_point::crash_role) == 0);
  CHECK_FALSE(fault_options{}.any());
  CHECK(o.any());
}

// The link's capacity the router plans with: what was said last, until the nodes measure it.

#include <catch2/catch.hpp>

#include "runtime/policy/link_capacity.h"

using namespace prfaas::policy;

TEST_CASE("the link's capacity is the configured one, then what the PrfaaS nodes measure together, then what is said") {
  link_capacity cap(1.0);
  CHECK(cap.gbps() == 1.0);
  CHECK(cap.from() == link_capacity::source::configured);
  cap.measured("prfaas-prefill-0", 0);   // idle: nothing measured
  CHECK(cap.gbps() == 1.0);
  cap.measured("prfaas-prefill-0", 0.8);  // alone on the link
  CHECK(cap.gbps() == Approx(0.8));
  CHECK(cap.from() == link_capacity::source::measured);
  cap.measured("prfaas-prefill-0", 0.45);  // two nodes share it: their sum
  cap.measured("prfaas-prefill-1", 0.4);
  CHECK(cap.gbps() == Approx(0.85));
  cap.measured("prfaas-prefill-0", 0);     // both go idle: the last sum stays
  cap.measured("prfaas-prefill-1", 0);
  CHECK(cap.gbps() == Approx(0.4));
  cap.said(0.1);                           // chaos link rate: replaces any measurement
  CHECK(cap.gbps() == Approx(0.1));
  CHECK(std::string(cap.from_name()) == "said");
  cap.measured("prfaas-prefill-1", 0.09);
  CHECK(cap.gbps() == Approx(0.09));
  cap.forget("prfaas-prefill-1");          // a lost node measures nothing
  cap.measured("prfaas-prefill-0", 0.05);
  CHECK(cap.gbps() == Approx(0.05));
}

TEST_CASE("a measured capacity is worth telling when it moved a tenth or more from the last one told") {
  link_capacity cap(1.0);
  CHECK_FALSE(cap.measured_change());  // configured: nothing measured
  cap.measured("n", 0.95);              // 5 % off the configured 1.0
  CHECK_FALSE(cap.measured_change());
  cap.measured("n", 0.5);
  CHECK(cap.measured_change() == 1.0);  // what was told before
  CHECK_FALSE(cap.measured_change());  // told now
  cap.said(2.0);                        // a statement is told as it is made
  cap.measured("n", 1.9);
  CHECK_FALSE(cap.measured_change());
}

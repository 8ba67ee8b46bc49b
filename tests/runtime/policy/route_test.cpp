// The per-request routing rule (PAPER.md §6): uncached length against the threshold, least
// loaded node inside the cluster, a decode node with room.

#include <catch2/catch.hpp>

#include "runtime/policy/route.h"

using namespace prfaas::policy;

namespace {
const std::vector<prefill_candidate> both = {{true, 0}, {true, 0}, {false, 0}};  // 2 PrfaaS, 1 local
const std::vector<decode_candidate> decodes = {{0, 4}, {0, 4}};
}  // namespace

TEST_CASE("prompts longer than the threshold go to the PrfaaS cluster, the rest stay local") {
  auto at = [&](int tokens) { return route({tokens, 0, 1024}, both, decodes)->path; };
  CHECK(at(1025) == prefill_path::prfaas);
  CHECK(at(1024) == prefill_path::local);  // l > t offloads; l == t does not
  CHECK(at(1) == prefill_path::local);
}

TEST_CASE("a local cache hit shortens the uncached length that is compared with the threshold") {
  const auto d = route({3000, 2048, 1024}, both, decodes);
  CHECK(d->uncached_tokens == 952);
  CHECK(d->path == prefill_path::local);
}

TEST_CASE("inside a cluster the least loaded prefill node is chosen, the first on ties") {
  std::vector<prefill_candidate> nodes = {{true, 3}, {true, 1}, {false, 0}, {true, 1}};
  CHECK(route({5000, 0, 1024}, nodes, decodes)->prefill == 1);
  CHECK(route({10, 0, 1024}, nodes, decodes)->prefill == 2);
}

TEST_CASE("the decode node is the least occupied one with room") {
  std::vector<decode_candidate> d = {{3, 4}, {1, 2}, {2, 8}};
  CHECK(route({10, 0, 1024}, both, d)->decode == 2);  // 2/8 < 1/2 < 3/4
  std::vector<decode_candidate> full = {{4, 4}, {2, 2}};
  CHECK_FALSE(route({10, 0, 1024}, both, full));
}

TEST_CASE("a cluster without prefill nodes hands its requests to the other, marked as fallback") {
  std::vector<prefill_candidate> local_only = {{false, 0}};
  const auto d = route({5000, 0, 1024}, local_only, decodes);
  CHECK(d->path == prefill_path::local);
  CHECK(d->fallback);
  CHECK_FALSE(route({5000, 0, 1024}, std::vector<prefill_candidate>{}, decodes));
}

TEST_CASE("inside a cluster the cache-affine node serves unless it is much busier than the least loaded") {
  std::vector<prefill_candidate> nodes = {{true, 0, true, 0}, {true, 2, true, 4096}, {true, 1, true, 1024}, {false, 0, true, 0}};
  CHECK(route({8000, 0, 1024}, nodes, decodes)->prefill == 1);  // longest own hit, 2 busier: within the slack
  nodes[1].in_flight = 3;                                         // 3 busier than node 0: beyond the slack
  CHECK(route({8000, 0, 1024}, nodes, decodes)->prefill == 0);
  nodes[0].accepting = false;                                     // draining nodes never serve
  CHECK(route({8000, 0, 1024}, nodes, decodes)->prefill == 1);
}

TEST_CASE("the decode node holding the longest prefix of the prompt serves, unless it is much busier than the least occupied") {
  std::vector<decode_candidate> d = {{0, 8, 0}, {2, 8, 1280}, {1, 8, 640}, {8, 8, 4096}};
  CHECK(route({1400, 0, 1024}, both, d)->decode == 1);  // longest hit with room, 2 more sequences: within the slack
  d[1].active = 3;                                       // 3 more than node 0: beyond the slack
  CHECK(route({1400, 0, 1024}, both, d)->decode == 0);
  d[1].active = 2;
  d[2].cached_tokens = 1280;                             // equal hits: the less occupied one
  CHECK(route({1400, 0, 1024}, both, d)->decode == 2);
  // Node 3 holds the most but has no room.
  CHECK(route({5000, 0, 1024}, both, d)->decode != 3);
}

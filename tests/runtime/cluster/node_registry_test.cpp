// The router's registry: one model per deployment, and no request forgotten when a node goes.

#include <catch2/catch.hpp>

#include "runtime/cluster/node_registry.h"
#include "runtime/common/errc.h"

using namespace prfaas;
using namespace prfaas::cluster;

namespace {
node_record node(const std::string& name, node_role role, bool prfaas = false) {
  node_record n;
  n.name = name;
  n.role = role;
  n.prfaas = prfaas;
  n.capacity = 4;
  return n;
}
}  // namespace

TEST_CASE("a node with another model is refused with model_mismatch") {
  node_registry r("model-A");
  try {
    r.add(node("decode-0", node_role::decode), "model-B");
    FAIL("accepted");
  } catch (const failure& f) {
    CHECK(f.code() == errc::model_mismatch);
    CHECK_THAT(f.what(), Catch::Contains("decode-0"));
  }
  CHECK(r.size() == 0);
}

TEST_CASE("removing or replacing a node hands back every request it held") {
  node_registry r("m");
  r.add(node("decode-0", node_role::decode), "m");
  r.add(node("prefill-0", node_role::prefill, true), "m");
  r.assign("decode-0", 1);
  r.assign("decode-0", 2);
  r.assign("prefill-0", 2);
  r.release("decode-0", 1);
  CHECK(r.add(node("decode-0", node_role::decode), "m") == std::set<uint64_t>{2});  // restarted
  r.assign("decode-0", 3);
  CHECK(r.remove("decode-0") == std::set<uint64_t>{3});
  CHECK(r.remove("prefill-0") == std::set<uint64_t>{2});
  CHECK(r.size() == 0);
}

TEST_CASE("routing candidates carry each node's load and cluster") {
  node_registry r("m");
  r.add(node("a", node_role::prefill, true), "m");
  r.add(node("b", node_role::prefill, false), "m");
  r.add(node("d", node_role::decode), "m");
  r.assign("a", 1);
  const auto p = node_registry::prefill_candidates(r.prefill_nodes());
  REQUIRE(p.size() == 2);
  CHECK(p[0].prfaas);
  CHECK(p[0].in_flight == 1);
  CHECK_FALSE(p[1].prfaas);
  const auto d = node_registry::decode_candidates(r.decode_nodes());
  CHECK(d[0].capacity == 4);
}

TEST_CASE("roles parse from their command-line names and anything else is refused") {
  CHECK(parse_role("cache-directory") == node_role::cache_directory);
  CHECK_THROWS_WITH(parse_role("decoder"), Catch::Contains("unknown role 'decoder'"));
}

TEST_CASE("the registry holds at most its bound of nodes") {
  node_registry r("m", 1);
  r.add(node("a", node_role::decode), "m");
  CHECK_THROWS_AS(r.add(node("b", node_role::decode), "m"), failure);
}

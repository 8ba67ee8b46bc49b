// Roles as `prfaas-node --role` names them.

#include <catch2/catch.hpp>

#include "runtime/cluster/node_role.h"
#include "runtime/common/errc.h"

using namespace prfaas;

TEST_CASE("roles parse from their command-line names and anything else is refused") {
  for (const auto* name : {"router", "cache-directory", "prefill", "decode"})
    CHECK(std::string(cluster::to_string(cluster::parse_role(name))) == name);
  CHECK_THROWS_WITH(cluster::parse_role("decoder"), Catch::Contains("unknown role 'decoder'"));
}

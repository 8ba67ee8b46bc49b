// Who may convert, and who goes when the rebalancer moves.

#include <catch2/catch.hpp>

#include "runtime/sched/local_stages.h"

using namespace prfaas;
using namespace prfaas::sched;

namespace {

// One PrfaaS prefill node, two local prefill nodes, two decode nodes of 4 slots each.
core deployment() {
  core c;
  commands out;
  for (const auto& d : {node_desc{"prfaas-prefill-0", node_kind::prefill, true, 0},
                        node_desc{"local-prefill-1", node_kind::prefill, false, 0},
                        node_desc{"local-prefill-0", node_kind::prefill, false, 0},
                        node_desc{"decode-1", node_kind::decode, false, 4}, node_desc{"decode-0", node_kind::decode, false, 4}})
    c.handle(node_up{d}, 0, out);
  return c;
}

}  // namespace

TEST_CASE("only local prefill and decode nodes convert, never the last decode node or one already converting") {
  core c = deployment();
  CHECK_FALSE(conversion_refusal(c, "decode-0", "prefill", false));
  CHECK_FALSE(conversion_refusal(c, "local-prefill-0", "decode", false));
  CHECK(conversion_refusal(c, "prfaas-prefill-0", "decode", false).why.find("only local") != std::string::npos);
  CHECK(conversion_refusal(c, "decode-0", "decode", false).why == "decode-0 is a decode node already");
  CHECK(conversion_refusal(c, "decode-0", "router", false));
  CHECK(conversion_refusal(c, "nobody", "prefill", false).why == "no node named nobody is up");
  CHECK(conversion_refusal(c, "decode-0", "prefill", true).why.find("converting already") != std::string::npos);
  commands out;
  c.handle(node_drain{*c.node_by_name("decode-1")}, 0, out);
  const auto last = conversion_refusal(c, "decode-0", "prefill", false);
  CHECK(last.code == errc::no_capacity);
  CHECK(last.why == "decode-0 is the last decode node");
}

TEST_CASE("a rebalancer's move converts the first accepting local node of the other role by name") {
  core c = deployment();
  CHECK(conversion_candidate(c, +1) == std::optional<std::string>("decode-0"));
  CHECK(conversion_candidate(c, -1) == std::optional<std::string>("local-prefill-0"));
  CHECK_FALSE(conversion_candidate(c, 0));
  commands out;
  c.handle(node_drain{*c.node_by_name("decode-0")}, 0, out);
  CHECK(conversion_candidate(c, +1) == std::optional<std::string>("decode-1"));
}

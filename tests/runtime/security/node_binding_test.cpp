// A registered node's id may be declared only over a connection with that node's certificate.

#include <catch2/catch.hpp>

#include "runtime/security/node_binding.h"

using namespace prfaas::security;

TEST_CASE("a handshake declaring a bound node id is an impersonation unless its certificate names that node") {
  node_bindings b;
  const std::string decode0 = std::string("\x01\x02node-id-of-decode-0\xff", 22);
  b.bind(decode0, "decode-0");
  const std::string handshake = "app-ids" + decode0 + "trailer";
  CHECK(b.impersonates(handshake, "client") == std::optional<std::string>("decode-0"));
  CHECK(b.impersonates(handshake, "decode-1") == std::optional<std::string>("decode-0"));
  CHECK_FALSE(b.impersonates(handshake, "decode-0"));                 // the node itself
  CHECK_FALSE(b.impersonates("app-ids some-other-node", "client"));  // its own id: nobody's
  b.bind(decode0, "decode-0b");  // re-registered under another name: the newest binding holds
  CHECK_FALSE(b.impersonates(handshake, "decode-0b"));
  b.bind("short", "x");  // too short to name a node: ignored
  CHECK_FALSE(b.impersonates("a short handshake", "client"));
}

TEST_CASE("bindings are bounded: the oldest go first") {
  node_bindings b;
  for (size_t i = 0; i < node_bindings::max_bindings + 10; ++i) b.bind("node-id-" + std::to_string(100000 + i), "n" + std::to_string(i));
  CHECK_FALSE(b.impersonates("node-id-100000", "client"));  // dropped
  CHECK(b.impersonates("node-id-" + std::to_string(100000 + node_bindings::max_bindings + 9), "client"));
}

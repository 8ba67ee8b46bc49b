#include "runtime/cluster/node_role.h"

#include "runtime/common/errc.h"

namespace prfaas::cluster {

node_role parse_role(const std::string& text) {
  if (text == "router") return node_role::router;
  if (text == "cache-directory") return node_role::cache_directory;
  if (text == "prefill") return node_role::prefill;
  if (text == "decode") return node_role::decode;
  if (text == "gateway") return node_role::gateway;
  throw failure(errc::invalid_argument,
                "unknown role '" + text + "' (expected router, cache-directory, prefill, decode or gateway)");
}

const char* to_string(node_role role) {
  switch (role) {
    case node_role::router: return "router";
    case node_role::cache_directory: return "cache-directory";
    case node_role::prefill: return "prefill";
    case node_role::decode: return "decode";
    case node_role::gateway: return "gateway";
  }
  return "unknown";
}

}  // namespace prfaas::cluster

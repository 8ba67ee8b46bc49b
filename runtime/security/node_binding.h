#pragma once
// Which certificate may speak for which actor-plane node.  A CAF peer declares its node id in
// its BASP handshake; nothing in CAF ties that id to the TLS certificate of the connection, so a
// holder of any certificate could declare a registered node's id and be taken for it.  The
// router binds each registered node's id (as CAF serializes it) to the certificate name that
// registered it; a later handshake that carries a bound id over a connection whose certificate
// names someone else is an impersonation, refused before CAF reads it (actors/basp_door.cpp).
//
//   node_bindings b;
//   b.bind(serialized_node_id, "decode-0");
//   if (auto who = b.impersonates(handshake_payload, "client")) refuse("declares " + *who + "'s node");
//
// Pure and thread-safe; bounded (a deployment's nodes, at most max_bindings).

#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace prfaas::security {

class node_bindings {
 public:
  static constexpr size_t max_bindings = 4096;
  // `node_bytes`: the node id as its handshake carries it; `name`: the certificate's CN.
  void bind(std::string node_bytes, std::string name);
  // The name whose bound node id `handshake` carries while `cert_name` is not that name.
  std::optional<std::string> impersonates(const std::string& handshake, const std::string& cert_name) const;

 private:
  mutable std::mutex mutex_;
  std::vector<std::pair<std::string, std::string>> bound_;  // oldest first
};

}  // namespace prfaas::security

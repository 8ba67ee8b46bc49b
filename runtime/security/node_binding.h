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
//   b.declared(handshake_payload, {"client", "client"});     // every admitted connection's
//   b.certificate_of(node_bytes);                            // who a message's sender proved to be
//
// Pure and thread-safe; bounded (a deployment's nodes, at most max_bindings).

#include <mutex>
#include <optional>
#include <string>
#include <deque>
#include <unordered_map>
#include <vector>

#include "runtime/security/pki.h"

namespace prfaas::security {

class node_bindings {
 public:
  static constexpr size_t max_bindings = 4096;
  // `node_bytes`: the node id as its handshake carries it; `name`: the certificate's CN.
  void bind(std::string node_bytes, std::string name);
  // The name whose bound node id `handshake` carries while `cert_name` is not that name.
  std::optional<std::string> impersonates(const std::string& handshake, const std::string& cert_name) const;
  // Records the certificate of an admitted connection by the node id its handshake carries (the
  // handshake is the serialized node id); the newest max_declared are kept.
  static constexpr size_t max_declared = 65536;
  void declared(const std::string& handshake, identity cert);
  // The certificate that declared `node_bytes` (the sender of a message, serialized), if any:
  // the newest declaration that carries it.  Asked for every message the router authorises, so
  // answers are remembered until the next declaration (connections are rarer than messages).
  std::optional<identity> certificate_of(const std::string& node_bytes) const;

 private:
  mutable std::mutex mutex_;
  std::vector<std::pair<std::string, std::string>> bound_;  // oldest first
  std::deque<std::pair<std::string, identity>> declared_;    // oldest first
  mutable std::unordered_map<std::string, std::optional<identity>> answers_;  // since the last declaration
};

}  // namespace prfaas::security

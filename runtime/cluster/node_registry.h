#pragma once
// The router's view of its workers: who is registered, in which cluster, how loaded, and which
// requests each one holds.  Pure bookkeeping (no CAF, no I/O); the router actor feeds it
// registrations and losses and asks it for routing candidates.
//
// Limits: at most max_nodes nodes (a further registration is errc::no_capacity).

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "runtime/policy/route.h"

namespace prfaas::cluster {

enum class node_role { router, cache_directory, prefill, decode };
// Throws failure(invalid_argument) naming the accepted roles.
node_role parse_role(const std::string& text);
const char* to_string(node_role role);

struct node_record {
  std::string name;
  node_role role = node_role::prefill;
  std::string cluster;
  bool prfaas = false;
  std::string data_endpoint;
  int capacity = 0;
  std::set<uint64_t> requests;  // requests this node holds right now
  int64_t last_heartbeat_ms = 0;
};

class node_registry {
 public:
  node_registry(std::string model_fingerprint, int max_nodes = 1024);

  // Adds or replaces (a restarted node keeps its name) a node. Throws failure(model_mismatch)
  // when its model differs, failure(no_capacity) past max_nodes. Returns the requests the
  // replaced incarnation held (they are lost with it).
  std::set<uint64_t> add(node_record node, const std::string& model_fingerprint);
  // Removes a node; returns the requests it held.
  std::set<uint64_t> remove(const std::string& name);
  void heartbeat(const std::string& name, int64_t now_ms);

  void assign(const std::string& name, uint64_t request);
  void release(const std::string& name, uint64_t request);

  const node_record* find(const std::string& name) const;
  std::vector<const node_record*> of_role(node_role role) const;  // name order

  // Candidates for policy::route, in the order of prefill_nodes() / decode_nodes().
  std::vector<const node_record*> prefill_nodes() const { return of_role(node_role::prefill); }
  std::vector<const node_record*> decode_nodes() const { return of_role(node_role::decode); }
  static std::vector<policy::prefill_candidate> prefill_candidates(const std::vector<const node_record*>& nodes);
  static std::vector<policy::decode_candidate> decode_candidates(const std::vector<const node_record*>& nodes);

  size_t size() const { return nodes_.size(); }
  const std::string& model_fingerprint() const { return model_; }

 private:
  std::string model_;
  int max_nodes_;
  std::map<std::string, node_record> nodes_;
};

}  // namespace prfaas::cluster

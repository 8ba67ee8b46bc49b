#include "runtime/cluster/node_registry.h"

#include "runtime/common/errc.h"

namespace prfaas::cluster {

node_role parse_role(const std::string& text) {
  if (text == "router") return node_role::router;
  if (text == "cache-directory") return node_role::cache_directory;
  if (text == "prefill") return node_role::prefill;
  if (text == "decode") return node_role::decode;
  throw failure(errc::invalid_argument,
                "unknown role '" + text + "' (expected router, cache-directory, prefill or decode)");
}

const char* to_string(node_role role) {
  switch (role) {
    case node_role::router: return "router";
    case node_role::cache_directory: return "cache-directory";
    case node_role::prefill: return "prefill";
    case node_role::decode: return "decode";
  }
  return "unknown";
}

node_registry::node_registry(std::string model_fingerprint, int max_nodes)
    : model_(std::move(model_fingerprint)), max_nodes_(max_nodes) {}

std::set<uint64_t> node_registry::add(node_record node, const std::string& model_fingerprint) {
  if (model_fingerprint != model_)
    throw failure(errc::model_mismatch, "node " + node.name + " runs model [" + model_fingerprint +
                                            "] but the router runs [" + model_ + "]");
  std::set<uint64_t> lost;
  auto it = nodes_.find(node.name);
  if (it != nodes_.end()) {
    lost = std::move(it->second.requests);
    nodes_.erase(it);
  } else if (static_cast<int>(nodes_.size()) >= max_nodes_) {
    throw failure(errc::no_capacity, "the router holds its maximum of " + std::to_string(max_nodes_) + " nodes");
  }
  node.requests.clear();
  nodes_.emplace(node.name, std::move(node));
  return lost;
}

std::set<uint64_t> node_registry::remove(const std::string& name) {
  auto it = nodes_.find(name);
  if (it == nodes_.end()) return {};
  auto lost = std::move(it->second.requests);
  nodes_.erase(it);
  return lost;
}

void node_registry::heartbeat(const std::string& name, int64_t now_ms) {
  auto it = nodes_.find(name);
  if (it != nodes_.end()) it->second.last_heartbeat_ms = now_ms;
}

void node_registry::assign(const std::string& name, uint64_t request) {
  auto it = nodes_.find(name);
  PRFAAS_ASSERT(it != nodes_.end());
  it->second.requests.insert(request);
}

void node_registry::release(const std::string& name, uint64_t request) {
  auto it = nodes_.find(name);
  if (it != nodes_.end()) it->second.requests.erase(request);
}

const node_record* node_registry::find(const std::string& name) const {
  auto it = nodes_.find(name);
  return it == nodes_.end() ? nullptr : &it->second;
}

std::vector<const node_record*> node_registry::of_role(node_role role) const {
  std::vector<const node_record*> out;
  for (const auto& [name, n] : nodes_)
    if (n.role == role) out.push_back(&n);
  return out;
}

std::vector<policy::prefill_candidate> node_registry::prefill_candidates(
    const std::vector<const node_record*>& nodes) {
  std::vector<policy::prefill_candidate> out;
  for (const auto* n : nodes) out.push_back({n->prfaas, static_cast<int>(n->requests.size()), true, 0});
  return out;
}

std::vector<policy::decode_candidate> node_registry::decode_candidates(
    const std::vector<const node_record*>& nodes) {
  std::vector<policy::decode_candidate> out;
  for (const auto* n : nodes) out.push_back({static_cast<int>(n->requests.size()), n->capacity});
  return out;
}

}  // namespace prfaas::cluster

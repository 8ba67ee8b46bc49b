#include "runtime/security/node_binding.h"

namespace prfaas::security {

void node_bindings::bind(std::string node_bytes, std::string name) {
  if (node_bytes.size() < 8) return;  // too short to mean one node
  std::lock_guard lock(mutex_);
  for (auto& [bytes, who] : bound_)
    if (bytes == node_bytes) {
      who = std::move(name);
      return;
    }
  if (bound_.size() >= max_bindings) bound_.erase(bound_.begin());  // nodes long gone first
  bound_.emplace_back(std::move(node_bytes), std::move(name));
}

std::optional<std::string> node_bindings::impersonates(const std::string& handshake, const std::string& cert_name) const {
  std::lock_guard lock(mutex_);
  for (const auto& [bytes, who] : bound_)
    if (who != cert_name && handshake.find(bytes) != std::string::npos) return who;
  return std::nullopt;
}

void node_bindings::declared(const std::string& handshake, identity cert) {
  std::lock_guard lock(mutex_);
  if (declared_.size() >= max_declared) declared_.pop_front();
  declared_.emplace_back(handshake, std::move(cert));
  answers_.clear();  // a newer declaration may answer differently
}

std::optional<identity> node_bindings::certificate_of(const std::string& node_bytes) const {
  std::lock_guard lock(mutex_);
  if (auto known = answers_.find(node_bytes); known != answers_.end()) return known->second;
  std::optional<identity> found;
  for (auto it = declared_.rbegin(); it != declared_.rend() && !found; ++it)
    if (it->first.find(node_bytes) != std::string::npos) found = it->second;
  if (answers_.size() >= max_declared) answers_.clear();
  answers_.emplace(node_bytes, found);
  return found;
}

}  // namespace prfaas::security

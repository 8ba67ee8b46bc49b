#include "runtime/control/roster.h"

#include <algorithm>
#include <nlohmann/json.hpp>

namespace prfaas::control {

void roster::set(std::vector<std::string> names) {
  std::sort(names.begin(), names.end());
  if (names.size() > kRosterMax) names.resize(kRosterMax);
  std::lock_guard<std::mutex> lock(mu_);
  if (names == names_) return;
  names_ = std::move(names);
  changed_ = true;
}

std::vector<std::string> roster::names() const {
  std::lock_guard<std::mutex> lock(mu_);
  return names_;
}

std::optional<std::vector<std::string>> roster::changed() {
  std::lock_guard<std::mutex> lock(mu_);
  if (!changed_) return std::nullopt;
  changed_ = false;
  return names_;
}

void roster::unpublished() {
  std::lock_guard<std::mutex> lock(mu_);
  changed_ = true;
}

std::string encode_roster(const std::vector<std::string>& names) { return nlohmann::json(names).dump(); }

std::vector<std::string> decode_roster(const std::string& text) {
  const auto j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!j.is_array() || j.size() > kRosterMax) return {};
  std::vector<std::string> out;
  for (const auto& n : j) {
    if (!n.is_string() || n.get_ref<const std::string&>().size() > 255) return {};
    out.push_back(n.get<std::string>());
  }
  return out;
}

void publish_roster(etcd_client& etcd, const std::vector<std::string>& names) {
  etcd.put(kRosterKey, encode_roster(names));
}

std::vector<std::string> read_roster(etcd_client& etcd) {
  const auto v = etcd.get(kRosterKey);
  return v ? decode_roster(*v) : std::vector<std::string>{};
}

}  // namespace prfaas::control

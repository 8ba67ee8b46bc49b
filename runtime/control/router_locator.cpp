#include "runtime/control/router_locator.h"

#include "runtime/common/errc.h"
#include "runtime/control/etcd_client.h"
#include "runtime/control/leadership.h"

namespace prfaas::control {

router_locator::router_locator(std::vector<endpoint> etcd, std::string key)
    : etcd_(std::move(etcd)), key_(key.empty() ? std::string(kLeaderKey) : std::move(key)) {}

std::optional<endpoint> router_locator::leader_now() const {
  if (!follows_etcd()) return fixed_;
  try {
    etcd_client etcd(etcd_, std::chrono::milliseconds(300));
    const auto value = etcd.get(key_);
    if (!value) return std::nullopt;
    auto at = parse_endpoint(*value);
    std::lock_guard lock(learnt_->mutex);
    learnt_->leader = at;
    return at;
  } catch (const failure&) {
    return std::nullopt;
  }
}

endpoint router_locator::current() const {
  if (!follows_etcd()) return fixed_;
  if (auto now = leader_now()) return *now;
  std::lock_guard lock(learnt_->mutex);
  if (learnt_->leader) return *learnt_->leader;
  throw failure(errc::unreachable, "no router leads in etcd (" + str() + ") yet");
}

std::string router_locator::str() const {
  if (!follows_etcd()) return fixed_.str();
  std::string s = "the leader in etcd ";
  for (size_t i = 0; i < etcd_.size(); ++i) s += (i ? "," : "") + etcd_[i].str();
  return s;
}

}  // namespace prfaas::control

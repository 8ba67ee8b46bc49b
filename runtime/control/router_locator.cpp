#include "runtime/control/router_locator.h"

#include "runtime/common/errc.h"
#include "runtime/control/etcd_client.h"
#include "runtime/control/leadership.h"

namespace prfaas::control {

router_locator::router_locator(std::vector<endpoint> etcd, std::string key)
    : etcd_(std::move(etcd)), key_(key.empty() ? std::string(kLeaderKey) : std::move(key)) {}

std::optional<endpoint> router_locator::ask(const std::vector<endpoint>& etcd_at, const std::string& key, learnt& l) {
  try {
    etcd_client etcd(etcd_at, std::chrono::milliseconds(300));
    const auto value = etcd.get(key);
    if (!value) return std::nullopt;
    auto at = parse_endpoint(*value);
    std::lock_guard lock(l.mutex);
    l.leader = at;
    return at;
  } catch (const failure&) {
    return std::nullopt;
  }
}

router_locator::learnt::~learnt() {
  {
    std::lock_guard lock(mutex);
    stop = true;
  }
  wake.notify_all();
  if (watcher.joinable()) watcher.join();
}

std::optional<endpoint> router_locator::leader_now() const {
  if (!follows_etcd()) return fixed_;
  return ask(etcd_, key_, *learnt_);
}

void router_locator::watch(std::chrono::milliseconds every) const {
  if (!follows_etcd()) return;
  std::lock_guard lock(learnt_->mutex);
  if (learnt_->watching) return;
  learnt_->watching = true;
  // The thread holds the shared state by reference: the state's destructor (the last copy
  // gone) stops and joins it.
  learnt_->watcher = std::thread([etcd = etcd_, key = key_, l = learnt_.get(), every] {
    for (;;) {
      auto seen = ask(etcd, key, *l);
      std::unique_lock lock(l->mutex);
      l->looked = std::move(seen);
      if (l->wake.wait_for(lock, every, [l] { return l->stop; })) return;
    }
  });
}

std::optional<endpoint> router_locator::last_look() const {
  if (!follows_etcd()) return fixed_;
  std::lock_guard lock(learnt_->mutex);
  return learnt_->looked;
}

endpoint router_locator::current() const {
  if (!follows_etcd()) return fixed_;
  bool watching;
  {
    std::lock_guard lock(learnt_->mutex);
    watching = learnt_->watching;
    if (watching && learnt_->looked) return *learnt_->looked;
  }
  if (!watching)
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

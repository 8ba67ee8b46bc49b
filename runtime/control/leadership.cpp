#include "runtime/control/leadership.h"

#include <spdlog/spdlog.h>

#include <thread>

#include "runtime/common/errc.h"
#include "runtime/control/port_probe.h"

namespace prfaas::control {

leadership::leadership(etcd_client& etcd, std::string me, leadership_options options)
    : etcd_(etcd), me_(std::move(me)), options_(std::move(options)) {
  if (options_.ttl_s < 1 || options_.ttl_s > 60) throw failure(errc::invalid_argument, "a leader's lease lasts 1..60 s");
}

bool leadership::campaign(const std::function<bool()>& stop, const std::function<void(const std::string&)>& waiting) {
  std::string seen = "-";
  while (!stop()) {
    std::string holder;
    try {
      if (lease_ == 0 || !etcd_.keepalive(lease_)) lease_ = etcd_.grant(options_.ttl_s);
      const auto claim = etcd_.create_if_absent(options_.key, me_, lease_);
      if (claim.created) return true;
      holder = claim.value;
      if (!holder.empty() && claim.revision > 0 && gone(holder, claim.revision) &&
          etcd_.delete_if_unchanged(options_.key, claim.revision)) {
        spdlog::warn("leadership: the router at {} is gone (its port refuses connections): its key deleted "
                     "without waiting out its lease",
                     holder);
        ++deposed_;
        continue;  // campaign again at once
      }
    } catch (const failure&) {
      holder.clear();  // etcd silent: nobody can be elected
    }
    if (holder != seen && waiting) waiting(holder);
    seen = holder;
    std::this_thread::sleep_for(options_.campaign_every);
  }
  return false;
}

bool leadership::gone(const std::string& holder, int64_t revision) const {
  if (holder == me_) {
    try {
      return probe_port(parse_endpoint(me_), std::chrono::milliseconds(200)) == port_answer::refused;
    } catch (const failure&) {
      return false;
    }
  }
  return options_.holder_gone && options_.holder_gone(holder, revision);
}

renewal leadership::renew() {
  try {
    if (!etcd_.keepalive(lease_)) return renewal::lost;
    // The key may be gone while the lease lives (deleted by hand): then this router no longer
    // leads either.
    const auto holder = etcd_.get(options_.key);
    return holder && *holder == me_ ? renewal::kept : renewal::lost;
  } catch (const failure&) {
    return renewal::store_unreachable;
  }
}

void leadership::resign() {
  try {
    if (lease_) etcd_.revoke(lease_);
  } catch (const failure&) {
  }
  lease_ = 0;
}

}  // namespace prfaas::control

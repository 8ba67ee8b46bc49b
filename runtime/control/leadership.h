#pragma once
// Which router leads, decided in etcd (etcd_client.h): the leader holds a key bound to a lease it
// keeps alive; standby routers campaign (create the key if absent) until it is free.  A leader
// whose lease etcd says is gone stops acting at once: another router may lead by then (a
// partitioned or stopped leader must never answer beside the new one).  An etcd that does not
// answer elects nobody new, so the leader keeps serving and keeps trying.
//
//   leadership lead(etcd, "10.0.0.1:7000", {});
//   lead.campaign(stop);                       // blocks until this router leads
//   ... every ttl / 3:  if (lead.renew() == renewal::lost) stop serving
//   lead.resign();                             // on a clean exit: a standby takes over at once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

#include "runtime/control/etcd_client.h"

namespace prfaas::control {

inline constexpr const char* kLeaderKey = "/prfaas/router/leader";

struct leadership_options {
  int ttl_s = 2;                                               // the lease: a lost leader's gap
  std::chrono::milliseconds campaign_every{100};  // a standby's look at the key
  std::string key = kLeaderKey;
};

enum class renewal { kept, lost, store_unreachable };

class leadership {
 public:
  // `me`: what the key holds while this router leads (the address nodes and clients reach it at).
  leadership(etcd_client& etcd, std::string me, leadership_options options = {});

  // Campaigns every campaign_every until this router leads or `stop` returns true (then false).
  // `waiting(leader)` hears who leads meanwhile, when it changes ("" : nobody, or etcd silent).
  bool campaign(const std::function<bool()>& stop, const std::function<void(const std::string&)>& waiting = {});
  renewal renew();
  void resign();  // best effort
  std::chrono::milliseconds renew_every() const { return std::chrono::milliseconds(options_.ttl_s * 1000 / 3); }
  const std::string& me() const { return me_; }

 private:
  etcd_client& etcd_;
  std::string me_;
  leadership_options options_;
  int64_t lease_ = 0;
};

}  // namespace prfaas::control

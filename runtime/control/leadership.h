#pragma once
// Which router leads, decided in etcd (etcd_client.h): the leader holds a key bound to a lease it
// keeps alive; standby routers campaign (create the key if absent) until it is free.  A leader
// whose lease etcd says is gone stops acting at once: another router may lead by then (a
// partitioned or stopped leader must never answer beside the new one).  An etcd that does not
// answer elects nobody new, so the leader keeps serving and keeps trying.
//
// A leader whose process died need not be waited out for the length of its lease: a standby
// that knows for certain it is gone (`holder_gone`: its connection broke and its port refuses
// connections, actors/leader_watch.hpp) deletes its key, if nobody wrote it since, and takes
// it.  A key naming this router's own address, where nothing listens, is a previous
// incarnation's (restarted in place) and goes the same way.  A stopped or partitioned leader
// still answers TCP or says nothing: it keeps its key until its lease lapses.
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
  // True when the process that wrote the key (its value, and the revision that wrote it) is gone
  // for certain; empty: never said, the lease decides.
  std::function<bool(const std::string& holder, int64_t revision)> holder_gone = {};
};

enum class renewal { kept, lost, store_unreachable };

class leadership {
 public:
  // `me`: what the key holds while this router leads (the address nodes and clients reach it at).
  leadership(etcd_client& etcd, std::string me, leadership_options options = {});

  // Campaigns every campaign_every until this router leads or `stop` returns true (then false).
  // `waiting(leader)` hears who leads meanwhile, when it changes ("" : nobody, or etcd silent).
  // A holder found gone is deposed (deposed() counts them) and the key taken at once.
  bool campaign(const std::function<bool()>& stop, const std::function<void(const std::string&)>& waiting = {});
  renewal renew();
  void resign();  // best effort
  std::chrono::milliseconds renew_every() const { return std::chrono::milliseconds(options_.ttl_s * 1000 / 3); }
  const std::string& me() const { return me_; }
  int deposed() const { return deposed_; }

 private:
  bool gone(const std::string& holder, int64_t revision) const;
  etcd_client& etcd_;
  std::string me_;
  leadership_options options_;
  int64_t lease_ = 0;
  int deposed_ = 0;
};

}  // namespace prfaas::control

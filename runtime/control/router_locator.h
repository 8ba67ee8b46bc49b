#pragma once
// Where the router is: a fixed address (one router, restarted in place), or, with standby
// routers, the leader etcd names (leadership.h), asked again each time it is needed so nodes,
// gateways and clients follow a change of leader.  Copies share what they last learnt: when
// etcd does not answer, the leader it named last is used.
//
//   router_locator at(endpoint{"10.0.0.1", 7000});         // a lone router
//   router_locator at(etcd_endpoints);                     // the leader
//   const endpoint now = at.current();

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "runtime/common/endpoint.h"

namespace prfaas::control {

class router_locator {
 public:
  router_locator() = default;
  router_locator(endpoint fixed) : fixed_(std::move(fixed)) {}  // NOLINT: a lone router's address is a locator
  explicit router_locator(std::vector<endpoint> etcd, std::string key = {});

  // The router to reach now; failure(unreachable) when etcd names none and none was known.
  // Watching (below): what the watch saw last, without asking etcd.
  endpoint current() const;
  // The leader as etcd names it now, without the fallback (nothing: none, or etcd silent).
  // Blocks up to etcd's timeout: not for an actor's thread.
  std::optional<endpoint> leader_now() const;
  // Looks at etcd every `every` on a thread of its own, shared by the copies and ended with the
  // last of them, so an actor's calls of current() and last_look() never block (an etcd that
  // does not answer would hold a scheduler thread per look).  Once is enough; later calls do nothing.
  void watch(std::chrono::milliseconds every) const;
  // What the watch saw at its last look: the leader etcd named (nothing: none, etcd silent, or
  // no look yet).
  std::optional<endpoint> last_look() const;
  bool follows_etcd() const { return !etcd_.empty(); }
  const std::vector<endpoint>& etcd() const { return etcd_; }
  const std::string& key() const { return key_; }
  std::string str() const;

 private:
  endpoint fixed_;
  std::vector<endpoint> etcd_;
  std::string key_;
  struct learnt {
    std::mutex mutex;
    std::optional<endpoint> leader;  // named last (the fallback while etcd is silent)
    std::optional<endpoint> looked;  // the watch's last look
    bool watching = false;
    bool stop = false;
    std::condition_variable wake;
    std::thread watcher;
    ~learnt();
  };
  // The leader etcd names under `key` now (nothing: none, or etcd silent), remembered in
  // `l.leader` as the fallback.
  static std::optional<endpoint> ask(const std::vector<endpoint>& etcd, const std::string& key, learnt& l);
  std::shared_ptr<learnt> learnt_ = std::make_shared<learnt>();
};

}  // namespace prfaas::control

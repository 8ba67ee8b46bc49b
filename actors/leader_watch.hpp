#pragma once
// A standby router's eye on the leader (runtime/control/leadership.h): it holds an actor-plane
// connection to the router the leader key names and monitors it.  When that connection breaks
// and the leader's port then refuses connections, the process is gone for certain (a stopped
// or partitioned leader still accepts TCP, or says nothing): the standby may take the key at
// once instead of waiting out the dead leader's lease.  A leader this watch never reached is
// never declared gone.
//
//   leader_watch watch(sys);
//   options.holder_gone = [&](const std::string& at, int64_t rev) { return watch.gone(at, rev); };

#include <caf/fwd.hpp>

#include <cstdint>
#include <memory>
#include <string>

namespace prfaas::actors {

class leader_watch {
 public:
  explicit leader_watch(caf::actor_system& sys);
  ~leader_watch();  // stops watching
  leader_watch(const leader_watch&) = delete;
  leader_watch& operator=(const leader_watch&) = delete;

  // From the campaign's thread, at each look at the key: true once the router at `holder`
  // ("host:port"), whose tenure etcd's `revision` names, is gone for certain.  A new holder or
  // revision starts a new watch.
  bool gone(const std::string& holder, int64_t revision);

  struct sight;  // what the watching actor and the campaign share

 private:
  std::shared_ptr<sight> sight_;
  std::unique_ptr<caf::actor> watcher_;
};

}  // namespace prfaas::actors

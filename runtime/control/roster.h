#pragma once
// The names of the nodes the leading router holds, kept in etcd beside the leader's key so that
// a new leader knows whom to wait for: it routes as soon as all of them registered again
// (sched::core_options::settle_for) instead of after a fixed settling time.
//
//   roster r;                        // shared by the router actor and the leader's keeper thread
//   r.set({"decode-0", "prefill-0"});   // the router, whenever a node registers or is lost
//   if (auto names = r.changed()) publish_roster(etcd, *names);   // the keeper, every renewal
//   const auto names = read_roster(etcd);                          // a router that just won
//
// Thread-safe.  The key is not bound to a lease: it outlives the leader that wrote it.

#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "runtime/control/etcd_client.h"

namespace prfaas::control {

inline constexpr const char* kRosterKey = "/prfaas/router/nodes";
inline constexpr size_t kRosterMax = 4096;  // names; a longer roster is cut (settling waits only for these)

class roster {
 public:
  void set(std::vector<std::string> names);
  std::vector<std::string> names() const;
  // The names if they changed since the last call, else nothing.
  std::optional<std::vector<std::string>> changed();
  void unpublished();  // what changed() gave could not be published: the next call gives it again

 private:
  mutable std::mutex mu_;
  std::vector<std::string> names_;
  bool changed_ = false;
};

// The roster as etcd holds it (a JSON array of names) and back.  Decoding takes strings only, at
// most kRosterMax of them, each at most 255 bytes; anything else reads as an empty roster.
std::string encode_roster(const std::vector<std::string>& names);
std::vector<std::string> decode_roster(const std::string& text);

// Throw failure(unreachable) when etcd does not answer.
void publish_roster(etcd_client& etcd, const std::vector<std::string>& names);
std::vector<std::string> read_roster(etcd_client& etcd);

}  // namespace prfaas::control

#pragma once
// Who waits for each request, so that a request nobody waits for any more ends everywhere: a
// client, or a gateway with all its clients' requests, lost mid-request (the process died, the
// connection dropped) is heard by the router as its requesters going down.
//
//   requesters<caf::actor_addr> who;
//   if (who.add(id, sender)) monitor(sender);          // the first request of a new requester
//   ... request ended:        for (auto& k : who.ended(id)) demonitor(k);
//   ... requester down:       for (auto id : who.gone(k)) after a grace: if (!who.waited_for(id)) cancel(id);
//
// A client retries a request it has no answer to from a new actor (actors/client.h), and the
// old one may go down before the retry arrives: the driver waits a grace period before it
// cancels, and a retry that joined meanwhile keeps the request.  Bounded by the requests in
// flight: a requester without requests is forgotten.

#include <algorithm>
#include <cstdint>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace prfaas::sched {

template <class Key>
class requesters {
 public:
  // `who` waits for `request`; true when `who` waited for nothing here until now.
  bool add(uint64_t request, const Key& who) {
    auto& waiting = by_request_[request];
    if (std::find(waiting.begin(), waiting.end(), who) == waiting.end()) waiting.push_back(who);
    auto [it, fresh] = by_requester_.try_emplace(who);
    it->second.insert(request);
    return fresh;
  }
  // The request ended: the requesters left waiting for nothing else.
  std::vector<Key> ended(uint64_t request) {
    std::vector<Key> idle;
    auto r = by_request_.find(request);
    if (r == by_request_.end()) return idle;
    for (const auto& who : r->second) {
      auto k = by_requester_.find(who);
      if (k == by_requester_.end()) continue;
      k->second.erase(request);
      if (k->second.empty()) {
        idle.push_back(who);
        by_requester_.erase(k);
      }
    }
    by_request_.erase(r);
    return idle;
  }
  // `who` no longer waits for `request` (a caller behind it went): true when it now waits for
  // nothing here.
  bool left(uint64_t request, const Key& who) {
    if (auto r = by_request_.find(request); r != by_request_.end()) drop(r->second, who);
    auto k = by_requester_.find(who);
    if (k == by_requester_.end()) return false;
    k->second.erase(request);
    if (!k->second.empty()) return false;
    by_requester_.erase(k);
    return true;
  }
  // `who` went away: returns the requests it waited for that no other requester waits for, by id.
  std::vector<uint64_t> gone(const Key& who) {
    std::vector<uint64_t> orphaned;
    auto k = by_requester_.find(who);
    if (k == by_requester_.end()) return orphaned;
    for (uint64_t request : k->second) {
      auto r = by_request_.find(request);
      if (r == by_request_.end()) continue;
      drop(r->second, who);
      if (r->second.empty()) orphaned.push_back(request);
    }
    by_requester_.erase(k);
    std::sort(orphaned.begin(), orphaned.end());  // in id order, whatever the set's
    return orphaned;
  }
  bool waited_for(uint64_t request) const {
    auto r = by_request_.find(request);
    return r != by_request_.end() && !r->second.empty();
  }
  size_t requester_count() const { return by_requester_.size(); }

 private:
  static void drop(std::vector<Key>& waiting, const Key& who) {
    waiting.erase(std::remove(waiting.begin(), waiting.end(), who), waiting.end());
  }

  // Hashed: an entry a request, added and erased at the router's rate.  A request's requesters
  // are a few (its client, a retry's, a stream): a vector.
  std::unordered_map<uint64_t, std::vector<Key>> by_request_;
  std::unordered_map<Key, std::unordered_set<uint64_t>> by_requester_;
};

}  // namespace prfaas::sched

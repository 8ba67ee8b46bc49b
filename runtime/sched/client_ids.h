#pragma once
// What the control plane remembers of requests by the id their client gave them, so that a
// client's retry (it lost its connection, or its answer) never runs a request twice:
//
//   - the request in flight under the id: a retry joins it;
//   - the result of one that completed lately: a retry that crossed the answer gets it again;
//   - the failure of one that failed for good (not `unreachable`, which a retry may cure);
//   - who submitted each request (its certificate's name), by client id and by request id: only
//     they, or an operator, may join, cancel or trace it (a client id is no capability).
//
//   client_ids<result> ids;
//   ids.started("c-1", 42, "client-a");
//   if (auto id = ids.in_flight("c-1")) ...     // a retry joins request 42
//   ids.completed("c-1", r);                    // later retries get r
//
// Bounded: results and failures of the last `keep` client ids, owners of the last 2 x keep;
// requests in flight are bounded by the core's max_in_flight.  Result is the driver's own.

#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>

#include "runtime/common/bounded_memory.h"
#include "runtime/common/errc.h"

namespace prfaas::sched {

template <class Result>
class client_ids {
 public:
  explicit client_ids(size_t keep = 4096)
      : done_(keep), failed_(keep), owner_by_client_(2 * keep), owner_by_request_(2 * keep) {}

  // Request `id` starts, submitted by `owner`; `client` may be empty (no client id).
  void started(const std::string& client, uint64_t id, const std::string& owner) {
    owner_by_request_.remember(id, owner);
    if (client.empty()) return;
    in_flight_[client] = id;
    owner_by_client_.remember(client, owner);
  }
  void completed(const std::string& client, const Result& result) {
    if (client.empty()) return;
    done_.remember(client, result);
    in_flight_.erase(client);
  }
  void failed(const std::string& client, errc code, const std::string& why) {
    if (client.empty()) return;
    if (code != errc::unreachable) failed_.remember(client, {code, why});
    in_flight_.erase(client);
  }

  std::optional<uint64_t> in_flight(const std::string& client) const {
    auto it = in_flight_.find(client);
    return it == in_flight_.end() ? std::nullopt : std::optional<uint64_t>(it->second);
  }
  const Result* result(const std::string& client) const { return done_.find(client); }
  const std::pair<errc, std::string>* failure_of(const std::string& client) const { return failed_.find(client); }
  const std::string* owner(const std::string& client) const { return owner_by_client_.find(client); }
  const std::string* owner_of(uint64_t request) const { return owner_by_request_.find(request); }

 private:
  std::unordered_map<std::string, uint64_t> in_flight_;
  bounded_memory<std::string, Result> done_;
  bounded_memory<std::string, std::pair<errc, std::string>> failed_;
  bounded_memory<std::string, std::string> owner_by_client_;
  bounded_memory<uint64_t, std::string> owner_by_request_;
};

}  // namespace prfaas::sched

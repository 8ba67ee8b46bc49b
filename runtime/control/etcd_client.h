#pragma once
// A client of etcd's v3 API through its JSON gateway (HTTP POST /v3/...; keys and values
// base64), for the few calls standby routers need: leases, a key created only if absent and
// bound to a lease (the campaign), a read, a lease revoked, health.  Endpoints are tried in turn;
// every call has a deadline.  Synchronous: callers run it off their event loops.
//
//   etcd_client etcd({{"127.0.0.1", 2379}});
//   const int64_t lease = etcd.grant(2);                       // 2 s
//   if (etcd.create_if_absent("/prfaas/leader", "10.0.0.1:7000", lease).created) ...  // it leads
//   etcd.keepalive(lease);                                     // false: the lease is gone
//
// Errors: failure(unreachable) when no endpoint answers; failure(internal) for an answer that
// is not etcd's.  A lease etcd no longer knows is not an error: keepalive says false.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "runtime/common/endpoint.h"

namespace prfaas::control {

class etcd_client {
 public:
  explicit etcd_client(std::vector<endpoint> endpoints,
                       std::chrono::milliseconds timeout = std::chrono::milliseconds(500));

  int64_t grant(int ttl_s);                       // a new lease's id
  bool keepalive(int64_t lease);                  // false: expired or revoked
  void revoke(int64_t lease);
  // Creates `key` = `value` bound to `lease` unless the key exists.  `created` says whether this
  // call made it; `value` is the key's value after ("" when it went again in between) and
  // `revision` the revision that last wrote it (which names that holder's tenure exactly).
  struct claim {
    bool created = false;
    std::string value;
    int64_t revision = 0;
  };
  claim create_if_absent(const std::string& key, const std::string& value, int64_t lease);
  // Deletes `key` if its last write is still `revision`; true when this call deleted it.
  bool delete_if_unchanged(const std::string& key, int64_t revision);
  std::optional<std::string> get(const std::string& key);
  void put(const std::string& key, const std::string& value);  // bound to no lease
  bool healthy();                                 // some endpoint says {"health":"true"}
  const std::vector<endpoint>& endpoints() const { return endpoints_; }

 private:
  std::string post(const std::string& path, const std::string& body);
  std::vector<endpoint> endpoints_;
  std::chrono::milliseconds timeout_;
  size_t next_ = 0;  // the endpoint that answered last is tried first
};

// "host:port,host:port" (the --etcd flag, [control] etcd) as endpoints; throws
// failure(invalid_argument) naming a bad one.
std::vector<endpoint> parse_etcd_endpoints(const std::string& text);

}  // namespace prfaas::control

#pragma once
// How fast one address may open connections to a listening port.  A TLS door pays for a
// connection before it can refuse it: CAF's OpenSSL module builds a whole SSL context (reading
// and parsing the certificate, key and CA files) for every connection it accepts, about 2 ms of
// its one I/O thread, so 500 connections a second from one stranger starve every member.  A
// token bucket per peer address (`per_second`, up to `burst` at once) decides at accept time,
// before any library sees the connection; refused connections are closed at once.
//
//   accept_limit limit({.per_second = 32, .burst = 64});
//   if (!limit.admit("10.0.0.7", now)) close(fd);
//
// Pure (the clock is passed in) and thread-safe; at most `max_addresses` buckets are kept (a
// full bucket, the same as none, is forgotten first).

#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>

namespace prfaas::security {

struct accept_limit_options {
  double per_second = 32;
  double burst = 64;
  size_t max_addresses = 4096;
};

class accept_limit {
 public:
  using time_point = std::chrono::steady_clock::time_point;
  explicit accept_limit(accept_limit_options options);
  // True when a connection from `address` may be accepted at `now` (it takes a token).
  bool admit(const std::string& address, time_point now);
  uint64_t refused() const;

 private:
  struct bucket {
    double tokens = 0;
    time_point last{};
  };
  void forget_full(time_point now);  // under mutex_

  accept_limit_options options_;
  mutable std::mutex mutex_;
  std::unordered_map<std::string, bucket> buckets_;
  uint64_t refused_ = 0;
};

}  // namespace prfaas::security

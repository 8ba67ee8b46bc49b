#pragma once
// Link emulation: a pacer lets bytes out at a configured rate, shared by every connection (and
// every peer) that holds it, so a deployment on one machine has a real bottleneck between its
// clusters.  Thread-safe.

#include <chrono>
#include <cstddef>
#include <mutex>

namespace prfaas::transport {

class pacer {
 public:
  explicit pacer(double gbps) : bytes_per_s_(gbps * 1e9 / 8) {}
  // Blocks until `bytes` may leave: each call takes the next slot of bytes / rate.
  void acquire(size_t bytes);
  double gbps() const { return bytes_per_s_ * 8 / 1e9; }

 private:
  double bytes_per_s_;
  std::mutex mutex_;
  std::chrono::steady_clock::time_point next_{};
};

}  // namespace prfaas::transport

#pragma once
// Link emulation: a pacer lets bytes out at a configured rate, shared by every connection (and
// every peer) that holds it, so a deployment on one machine has a real bottleneck between its
// clusters.  The rate may change at run time (a bandwidth collapse), and the link may be cut
// and restored: while cut, senders hold their frames (kv_sender checks is_cut()) and new
// connections are refused, as across a partition.  Thread-safe.

#include <atomic>
#include <chrono>
#include <cstddef>
#include <mutex>

namespace prfaas::transport {

class pacer {
 public:
  explicit pacer(double gbps) { set_gbps(gbps); }
  // Blocks until `bytes` may leave: each call takes the next slot of bytes / rate.  Gbps <= 0:
  // unpaced.
  void acquire(size_t bytes);
  void set_gbps(double gbps);
  double gbps() const;
  void set_cut(bool cut) { cut_ = cut; }
  bool is_cut() const { return cut_; }

 private:
  mutable std::mutex mutex_;
  double bytes_per_s_ = 0;
  std::chrono::steady_clock::time_point next_{};
  std::atomic<bool> cut_{false};
};

}  // namespace prfaas::transport

#include "runtime/transport/pacer.h"

#include <thread>

namespace prfaas::transport {

void pacer::set_gbps(double gbps) {
  std::lock_guard lock(mutex_);
  bytes_per_s_ = gbps > 0 ? gbps * 1e9 / 8 : 0;
}

double pacer::gbps() const {
  std::lock_guard lock(mutex_);
  return bytes_per_s_ * 8 / 1e9;
}

void pacer::acquire(size_t bytes) {
  using clock = std::chrono::steady_clock;
  clock::time_point start;
  {
    std::lock_guard lock(mutex_);
    if (bytes_per_s_ <= 0) return;
    const auto now = clock::now();
    // An idle link does not bank credit: a burst after silence still leaves at the rate.
    start = next_ > now ? next_ : now;
    next_ = start + std::chrono::duration_cast<clock::duration>(std::chrono::duration<double>(bytes / bytes_per_s_));
  }
  std::this_thread::sleep_until(start);
}

}  // namespace prfaas::transport

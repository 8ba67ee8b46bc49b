#include "runtime/transport/pacer.h"

#include <thread>

namespace prfaas::transport {

void pacer::acquire(size_t bytes) {
  using clock = std::chrono::steady_clock;
  clock::time_point start;
  {
    std::lock_guard lock(mutex_);
    const auto now = clock::now();
    // An idle link does not bank credit: a burst after silence still leaves at the rate.
    start = next_ > now ? next_ : now;
    next_ = start + std::chrono::duration_cast<clock::duration>(std::chrono::duration<double>(bytes / bytes_per_s_));
  }
  std::this_thread::sleep_until(start);
}

}  // namespace prfaas::transport

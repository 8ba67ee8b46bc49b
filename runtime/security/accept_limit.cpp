#include "runtime/security/accept_limit.h"

#include <algorithm>

namespace prfaas::security {

accept_limit::accept_limit(accept_limit_options options) : options_(options) {}

bool accept_limit::admit(const std::string& address, time_point now) {
  std::lock_guard lock(mutex_);
  auto it = buckets_.find(address);
  if (it == buckets_.end()) {
    if (buckets_.size() >= options_.max_addresses) forget_full(now);
    if (buckets_.size() >= options_.max_addresses) {  // every bucket busy: the newcomer waits its turn
      ++refused_;
      return false;
    }
    it = buckets_.emplace(address, bucket{options_.burst, now}).first;
  }
  bucket& b = it->second;
  const double elapsed = std::chrono::duration<double>(now - b.last).count();
  b.tokens = std::min(options_.burst, b.tokens + std::max(0.0, elapsed) * options_.per_second);
  b.last = now;
  if (b.tokens < 1) {
    ++refused_;
    return false;
  }
  b.tokens -= 1;
  return true;
}

void accept_limit::forget_full(time_point now) {
  std::erase_if(buckets_, [&](const auto& e) {
    const double elapsed = std::chrono::duration<double>(now - e.second.last).count();
    return e.second.tokens + elapsed * options_.per_second >= options_.burst;
  });
}

uint64_t accept_limit::refused() const {
  std::lock_guard lock(mutex_);
  return refused_;
}

}  // namespace prfaas::security

#include "runtime/common/cancel_board.h"

namespace prfaas {

void cancel_board::cancel(uint64_t request, int attempt) {
  std::lock_guard lock(mutex_);
  if (!cancelled_.insert({request, attempt}).second) return;
  order_.push_back({request, attempt});
  while (order_.size() > capacity_) {
    cancelled_.erase(order_.front());
    order_.pop_front();
  }
}

bool cancel_board::cancelled(uint64_t request, int attempt) const {
  std::lock_guard lock(mutex_);
  return cancelled_.count({request, attempt}) > 0;
}

size_t cancel_board::size() const {
  std::lock_guard lock(mutex_);
  return cancelled_.size();
}

}  // namespace prfaas

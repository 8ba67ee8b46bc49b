#include "runtime/common/cancel_board.h"

namespace prfaas {

void cancel_board::cancel(uint64_t request, int attempt) {
  std::lock_guard lock(mutex_);
  cancelled_.remember({request, attempt}, true);
}

bool cancel_board::cancelled(uint64_t request, int attempt) const {
  std::lock_guard lock(mutex_);
  return cancelled_.find({request, attempt}) != nullptr;
}

size_t cancel_board::size() const {
  std::lock_guard lock(mutex_);
  return cancelled_.size();
}

}  // namespace prfaas

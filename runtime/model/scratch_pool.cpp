#include "runtime/model/scratch_pool.h"

#include "runtime/common/errc.h"

namespace prfaas::model {

scratch_pool::lease::lease(lease&& other) noexcept
    : pool_(other.pool_), b_(std::move(other.b_)), used_(other.used_), left_(other.left_) {
  other.pool_ = nullptr;
}

scratch_pool::lease::~lease() {
  if (pool_ && b_.data) pool_->give_back(std::move(b_));
}

float* scratch_pool::lease::take(size_t n) {
  PRFAAS_REQUIRE(n <= left_, "forward scratch too small");
  float* p = b_.data.get() + used_;
  used_ += n;
  left_ -= n;
  return p;
}

scratch_pool::lease scratch_pool::acquire(size_t floats) {
  buffer b;
  {
    std::lock_guard lock(mu_);
    if (!free_.empty()) {
      b = std::move(free_.back());
      free_.pop_back();
    }
  }
  if (b.capacity < floats) {
    b.data.reset(new float[floats]);
    b.capacity = floats;
  }
  return lease(*this, std::move(b), floats);
}

void scratch_pool::give_back(buffer b) {
  std::lock_guard lock(mu_);
  if (free_.size() < keep_) free_.push_back(std::move(b));
}

size_t scratch_pool::held() const {
  std::lock_guard lock(mu_);
  return free_.size();
}

}  // namespace prfaas::model

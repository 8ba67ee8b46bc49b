#include "runtime/gpu/device_block_pool.h"

#include <cuda_runtime.h>

#include "runtime/common/errc.h"

namespace prfaas::gpu {

device_block_pool::device_block_pool(long block_bytes, int capacity_blocks, int device)
    : block_bytes_(block_bytes), stride_((block_bytes + 255) / 256 * 256), capacity_(capacity_blocks), device_(device) {
  PRFAAS_REQUIRE(block_bytes > 0 && capacity_blocks > 0, "a device pool needs blocks");
  if (cudaSetDevice(device) != cudaSuccess ||
      cudaMalloc(reinterpret_cast<void**>(&slab_), static_cast<size_t>(stride_) * capacity_blocks) != cudaSuccess)
    throw failure(errc::no_capacity, "device_block_pool: cannot allocate " + std::to_string(capacity_blocks) +
                                         " blocks on GPU " + std::to_string(device));
  holders_.assign(capacity_blocks, 0);
  for (int id = capacity_blocks - 1; id >= 0; --id) free_.push_back(id);
}

device_block_pool::~device_block_pool() { cudaFree(slab_); }

std::optional<int> device_block_pool::allocate() {
  std::lock_guard lock(mutex_);
  if (free_.empty()) return std::nullopt;
  const int id = free_.back();
  free_.pop_back();
  holders_[id] = 1;
  return id;
}

void device_block_pool::retain(int id) {
  std::lock_guard lock(mutex_);
  PRFAAS_REQUIRE(id >= 0 && id < capacity_ && holders_[id] > 0, "retain of a free device block");
  ++holders_[id];
}

void device_block_pool::release(int id) {
  std::lock_guard lock(mutex_);
  PRFAAS_REQUIRE(id >= 0 && id < capacity_ && holders_[id] > 0, "release of a free device block");
  if (--holders_[id] == 0) free_.push_back(id);
}

int device_block_pool::holders(int id) const {
  std::lock_guard lock(mutex_);
  return holders_.at(id);
}

std::byte* device_block_pool::data(int id) const { return slab_ + static_cast<long>(id) * stride_; }

int device_block_pool::free_blocks() const {
  std::lock_guard lock(mutex_);
  return static_cast<int>(free_.size());
}

}  // namespace prfaas::gpu

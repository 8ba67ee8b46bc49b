#include "runtime/gpu/device_block_pool.h"

#include <cuda_runtime.h>

#include "runtime/common/errc.h"

namespace prfaas::gpu {

device_block_pool::device_block_pool(long block_bytes, int capacity_blocks, int device)
    : block_bytes_(block_bytes),
      stride_((block_bytes + 255) / 256 * 256),
      capacity_(capacity_blocks),
      device_(device),
      ledger_(capacity_blocks) {
  PRFAAS_REQUIRE(block_bytes > 0, "a device pool needs a block size");
  if (cudaSetDevice(device) != cudaSuccess ||
      cudaMalloc(reinterpret_cast<void**>(&slab_), static_cast<size_t>(stride_) * capacity_blocks) != cudaSuccess)
    throw failure(errc::no_capacity, "device_block_pool: cannot allocate " + std::to_string(capacity_blocks) +
                                         " blocks on GPU " + std::to_string(device));
}

device_block_pool::~device_block_pool() { cudaFree(slab_); }

std::byte* device_block_pool::data(int id) const { return slab_ + static_cast<long>(id) * stride_; }

}  // namespace prfaas::gpu

#pragma once
// A fixed pool of equal-size KV blocks in one GPU's memory: kv::block_pool's interface
// (runtime/kv/block_pool.h) over a cudaMalloc'd slab, for an engine whose KV lives on the GPU.
//
//   device_block_pool pool(config.block_bytes(), 1024, /*device=*/0);
//   auto id = pool.allocate();                     // std::nullopt when the pool is full
//   float* kv = pool.floats(*id);                  // device memory, 256-byte aligned
//
// Thread-safe bookkeeping; the memory is the device's (read and written by kernels and by the
// NCCL carrier, never by the host).

#include <cstddef>
#include <mutex>
#include <optional>
#include <vector>

namespace prfaas::gpu {

class device_block_pool {
 public:
  // Throws failure(no_capacity) when the device has not the memory.
  device_block_pool(long block_bytes, int capacity_blocks, int device);
  ~device_block_pool();
  device_block_pool(const device_block_pool&) = delete;
  device_block_pool& operator=(const device_block_pool&) = delete;

  std::optional<int> allocate();
  void retain(int id);
  void release(int id);
  int holders(int id) const;
  std::byte* data(int id) const;
  float* floats(int id) const { return reinterpret_cast<float*>(data(id)); }
  long block_bytes() const { return block_bytes_; }
  int capacity() const { return capacity_; }
  int free_blocks() const;
  int device() const { return device_; }

 private:
  long block_bytes_, stride_;
  int capacity_, device_;
  std::byte* slab_ = nullptr;
  mutable std::mutex mutex_;
  std::vector<int> free_;
  std::vector<int> holders_;
};

}  // namespace prfaas::gpu

#pragma once
// A fixed pool of equal-size KV blocks in one GPU's memory: kv::block_pool's interface
// (runtime/kv/block_pool.h) over a cudaMalloc'd slab, for an engine whose KV lives on the GPU.
//
//   device_block_pool pool(config.block_bytes(), 1024, /*device=*/0);
//   auto id = pool.allocate();                     // std::nullopt when the pool is full
//   float* kv = pool.floats(*id);                  // device memory, 256-byte aligned
//
// Thread-safe bookkeeping (kv::block_ledger, shared with the host pool); the memory is the device's (read and written by kernels and by the
// NCCL carrier, never by the host).

#include <cstddef>
#include <optional>

#include "runtime/kv/block_ledger.h"

namespace prfaas::gpu {

class device_block_pool {
 public:
  // Throws failure(no_capacity) when the device has not the memory.
  device_block_pool(long block_bytes, int capacity_blocks, int device);
  ~device_block_pool();
  device_block_pool(const device_block_pool&) = delete;
  device_block_pool& operator=(const device_block_pool&) = delete;

  std::optional<int> allocate() { return ledger_.allocate(); }
  void retain(int id) { ledger_.retain(id); }
  void release(int id) { ledger_.release(id); }
  int holders(int id) const { return ledger_.holders(id); }
  std::byte* data(int id) const;
  float* floats(int id) const { return reinterpret_cast<float*>(data(id)); }
  long block_bytes() const { return block_bytes_; }
  int capacity() const { return capacity_; }
  int free_blocks() const { return ledger_.free_blocks(); }
  int device() const { return device_; }

 private:
  long block_bytes_, stride_;
  int capacity_, device_;
  std::byte* slab_ = nullptr;
  kv::block_ledger ledger_;
};

}  // namespace prfaas::gpu

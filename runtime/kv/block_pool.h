#pragma once
// A fixed pool of equal-size KV blocks carved from one slab.
//
//   block_pool pool(config.block_bytes(), 1024);   // 1024 blocks, reserved (memory on first use)
//   auto id = pool.allocate();                     // std::nullopt when the pool is full
//   float* kv = pool.floats(*id);                  // 64-byte aligned, valid until release(*id)
//   pool.retain(*id);                              // a second holder (e.g. the prefix cache)
//   pool.release(*id);                             // each holder releases once; the last frees it
//
// The slab is reserved up front and never grows: a full pool is an error the caller reports
// (errc::no_capacity), not a resize.  Its memory comes on first use, in transparent huge pages
// where the kernel allows them (madvise): a resting node holds only what it has used, and a
// block's first write runs at about 2 GB/s on the reference machine against 6-7 GB/s warm (4 KiB
// pages: about 1 GB/s), faster than the link that fills it; blocks are recycled, so a serving
// node soon writes only warm ones.
// Thread-safe: the KV receiver's threads write into blocks an actor allocated.

#include <cstddef>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "runtime/kv/block_ledger.h"

namespace prfaas::kv {

class block_pool {
 public:
  block_pool(long block_bytes, int capacity_blocks);
  block_pool(const block_pool&) = delete;
  block_pool& operator=(const block_pool&) = delete;

  std::optional<int> allocate() { return ledger_.allocate(); }  // the caller holds the one reference
  void retain(int id) { ledger_.retain(id); }    // one more holder of an allocated block
  void release(int id) { ledger_.release(id); }  // id must be held; a release past the last holder is an internal error
  int holders(int id) const { return ledger_.holders(id); }  // 0: free

  std::byte* data(int id) const;  // block_bytes() bytes, 64-byte aligned
  float* floats(int id) const { return reinterpret_cast<float*>(data(id)); }

  long block_bytes() const { return block_bytes_; }
  int capacity() const { return capacity_; }
  int free_blocks() const { return ledger_.free_blocks(); }

 private:
  struct slab_deleter {
    size_t bytes;  // what was mapped
    void operator()(std::byte* p) const;
  };
  long block_bytes_;
  int capacity_;
  std::unique_ptr<std::byte, slab_deleter> slab_;
  block_ledger ledger_;
};

}  // namespace prfaas::kv

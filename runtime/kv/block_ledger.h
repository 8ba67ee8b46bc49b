#pragma once
// Who holds which block of a fixed pool: the bookkeeping shared by the host pool
// (kv::block_pool) and a device's, apart from where the bytes live.
//
//   block_ledger ledger(1024);
//   auto id = ledger.allocate();      // std::nullopt when every block is held
//   ledger.retain(*id);               // a second holder
//   ledger.release(*id);              // each holder once; the last frees the block
//
// Thread-safe.  Ids are 0 .. capacity - 1; an id not held is an internal error (PRFAAS_ASSERT).

#include <mutex>
#include <optional>
#include <vector>

namespace prfaas::kv {

class block_ledger {
 public:
  explicit block_ledger(int capacity);

  std::optional<int> allocate();
  void retain(int id);
  void release(int id);
  int holders(int id) const;  // 0: free
  int free_blocks() const;
  int capacity() const { return capacity_; }

 private:
  int capacity_;
  mutable std::mutex mutex_;
  std::vector<int> free_;     // stack of free ids
  std::vector<int> holders_;  // per block: 0 free, else how many hold it
};

}  // namespace prfaas::kv

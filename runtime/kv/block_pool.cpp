#include "runtime/kv/block_pool.h"

#include <sys/mman.h>

#include <cstring>
#include <new>

#include "runtime/common/errc.h"

namespace prfaas::kv {

void block_pool::slab_deleter::operator()(std::byte* p) const { ::munmap(p, bytes); }

block_pool::block_pool(long block_bytes, int capacity_blocks)
    : block_bytes_(block_bytes), capacity_(capacity_blocks), ledger_(capacity_blocks) {
  PRFAAS_REQUIRE(block_bytes > 0 && block_bytes % 64 == 0, "block size must be a multiple of 64");
  PRFAAS_REQUIRE(capacity_blocks > 0, "block pool needs at least one block");
  const size_t bytes = static_cast<size_t>(block_bytes) * capacity_blocks;
  // Anonymous pages: zero, page-aligned (so 64-byte aligned), and backed only once written.
  void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) throw failure(errc::no_capacity, "cannot reserve " + std::to_string(bytes) + " bytes of KV blocks");
  ::madvise(p, bytes, MADV_HUGEPAGE);  // a hint: refused where huge pages are off, and then 4 KiB pages
  slab_ = std::unique_ptr<std::byte, slab_deleter>(static_cast<std::byte*>(p), slab_deleter{bytes});
}

std::byte* block_pool::data(int id) const {
  PRFAAS_ASSERT(id >= 0 && id < capacity_);
  return slab_.get() + static_cast<size_t>(id) * block_bytes_;
}

}  // namespace prfaas::kv

#pragma once
// Scratch memory for forward passes, kept between them.  A pass leases one buffer, carves its
// activations out of it and gives it back at its end; the next pass reuses it.  Fresh memory
// for every pass cost page faults and the kernel's zeroing: tens of MB at 2K tokens, ~15 % of
// a prefill's time here.  Buffers only grow (to the longest pass seen, bounded by the model's
// context); at most `keep` are held, one per pass running at once (passes may run on several
// threads).  Thread-safe.
//
//   scratch_pool pool(4);
//   auto mem = pool.lease(floats);
//   float* x = mem.take(rows * d);                  // not zero-filled

#include <cstddef>
#include <memory>
#include <mutex>
#include <vector>

namespace prfaas::model {

class scratch_pool {
 public:
  explicit scratch_pool(size_t keep) : keep_(keep) {}

  struct buffer {
    std::unique_ptr<float[]> data;
    size_t capacity = 0;
  };

  class lease {
   public:
    lease(scratch_pool& pool, buffer b, size_t floats) : pool_(&pool), b_(std::move(b)), left_(floats) {}
    lease(lease&& other) noexcept;
    lease(const lease&) = delete;
    lease& operator=(const lease&) = delete;
    lease& operator=(lease&&) = delete;
    ~lease();
    // The next n floats of the lease; throws failure(internal) past what was leased.
    float* take(size_t n);

   private:
    scratch_pool* pool_;
    buffer b_;
    size_t used_ = 0, left_;
  };

  lease acquire(size_t floats);
  size_t held() const;

 private:
  void give_back(buffer b);

  const size_t keep_;
  mutable std::mutex mu_;
  std::vector<buffer> free_;
};

}  // namespace prfaas::model

#pragma once
// Requests for the simulator: generated (Poisson or on/off arrivals, log-normal lengths) or
// replayed from a trace (../shared/traces format: timestamp ms, input_length, output_length,
// hash_ids with one id per 512-token block; shared leading ids are shared prefixes).

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "runtime/sim/prefix_cache.h"
#include "runtime/sim/scenario.h"

namespace prfaas::sim {

struct request {
  double arrival_s = 0;
  int input_tokens = 0;
  int output_tokens = 0;
  std::vector<uint32_t> blocks;  // prefix-cache block ids; empty: shares nothing
};

// Throws failure(bad_config) naming the line of a malformed record. At most `limit` requests.
std::vector<request> load_trace(const std::string& path, size_t limit = SIZE_MAX);

// Each request's uncached length after prefix-cache hits, replaying the requests in order through
// one cache of `cache_blocks` blocks (0: no cache, every token uncached).  The planner's empirical
// length distribution for a trace.
std::vector<double> uncached_lengths(const std::vector<request>& requests, long cache_blocks, int block_tokens,
                                     cache_shape shape = {});

// Blocks of a request a cache may keep: its full blocks before the last token (whose logits are
// always computed), as the live cache keeps them (kv::reusable_chain).
int reusable_blocks(const request& r, int block_tokens);

// `n` requests at `rate` per second from the scenario's length distribution and arrival process.
std::vector<request> generate(const scenario& s, int n, double rate, uint64_t seed);

// Requests one at a time, in arrival order, so the simulator holds only those in flight and a
// run's memory does not grow with its length.
class request_source {
 public:
  virtual ~request_source() = default;
  // The next request, or false after the last.
  virtual bool next(request& out) = 0;
  virtual long count() const = 0;              // requests in all
  virtual double last_arrival_s() const = 0;   // the last one's arrival (0: none)
};

// A workload already in memory (a trace, or tests' own), read in place.
class vector_source final : public request_source {
 public:
  explicit vector_source(const std::vector<request>& requests) : requests_(requests) {}
  bool next(request& out) override;
  long count() const override { return static_cast<long>(requests_.size()); }
  double last_arrival_s() const override { return requests_.empty() ? 0 : requests_.back().arrival_s; }

 private:
  const std::vector<request>& requests_;
  size_t next_ = 0;
};

// generate()'s requests, the same ones for the same arguments, made as they are asked for: any
// count in fixed memory.  The last arrival is found at construction by drawing the arrival
// gaps once without keeping them (about 10 ns a request).
class generated_source final : public request_source {
 public:
  generated_source(const scenario& s, long n, double rate, uint64_t seed);
  ~generated_source() override;
  bool next(request& out) override;
  long count() const override { return n_; }
  double last_arrival_s() const override { return last_arrival_; }

 private:
  struct draw;
  long n_, made_ = 0;
  double last_arrival_ = 0;
  std::unique_ptr<draw> draw_;
};

}  // namespace prfaas::sim

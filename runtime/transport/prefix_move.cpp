#include "runtime/transport/prefix_move.h"

#include "runtime/common/errc.h"

namespace prfaas::transport {
namespace {

std::vector<uint64_t> prefix_chain(std::span<const int32_t> prompt, int tokens, int block_tokens) {
  auto chain = kv::reusable_chain(prompt, block_tokens);
  PRFAAS_REQUIRE(tokens > 0 && tokens % block_tokens == 0 && tokens / block_tokens <= static_cast<int>(chain.size()),
                 "a moved prefix is a whole number of blocks within the prompt");
  chain.resize(tokens / block_tokens);
  return chain;
}

}  // namespace

void push_prefix(kv::prefix_cache& cache, const kv::layout& shape, kv::block_pool& pool, carrier_link& link,
                 uint64_t request, std::span<const int32_t> prompt, int tokens,
                 std::chrono::steady_clock::time_point deadline) {
  const auto chain = prefix_chain(prompt, tokens, shape.block_tokens);
  kv::sequence_kv kv(shape, pool);
  const int restored = cache.restore(chain, kv, /*count=*/false);
  if (restored != tokens)
    throw failure(errc::no_capacity, "the cached prefix of " + std::to_string(tokens) + " tokens is gone (" +
                                         std::to_string(restored) + " left)");
  sequence_transfer src(kv);
  // Posted frames reference kv's blocks: no connection thread reads them once kv lets go of
  // them, whatever throws below.
  struct forget_before_release {
    carrier_link& link;
    uint64_t request;
    ~forget_before_release() { link.forget(request); }
  } guard{link, request};
  for (int l = 0; l < shape.n_layers(); ++l) link.send_layer(request, src, l);
  link.send_done(request, static_cast<uint32_t>(tokens), 0);
  link.finish(request, deadline);
}

pulled_prefix::pulled_prefix(const kv::layout& shape, kv::block_pool& pool, std::vector<int32_t> prompt,
                             int tokens)
    : prompt_(std::move(prompt)), tokens_(tokens) {
  prefix_chain(prompt_, tokens, shape.block_tokens);  // checks the shape
  kv_ = std::make_unique<kv::sequence_kv>(shape, pool);
  kv_->reserve(tokens);
  kv_->set_tokens(tokens);
  transfer_ = std::make_unique<sequence_transfer>(*kv_);
}

void pulled_prefix::commit(kv::prefix_cache& cache) {
  const auto chain = prefix_chain(prompt_, tokens_, kv_->layout().block_tokens);
  std::vector<kv::state_snapshot> snapshots;
  snapshots.push_back(kv::prefix_cache::take(*kv_));
  cache.insert(chain, *kv_, std::move(snapshots));
}

}  // namespace prfaas::transport

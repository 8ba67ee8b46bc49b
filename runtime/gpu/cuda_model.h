#pragma once
// The tiny hybrid model on an NVIDIA GPU: the same weights (model_config::seed) and the same
// math as model::hybrid_model, with weights, KV blocks (device_block_pool) and linear states in
// device memory; products through cuBLAS, the rest through kernels/cuda.  Logits agree with the
// CPU model's within float rounding, greedy tokens are the same (tests/gpu/cuda_model_test.cpp).
//
//   gpu::cuda_model m(config, /*device=*/0, /*kv_blocks=*/4096);
//   auto seq = m.start(prompt.size() + max_tokens);  // its blocks, taken up front
//   int32_t next = model::greedy(m.prefill(prompt, *seq));
//   next = model::greedy(m.decode_step(next, *seq));
//
// One stream per model; calls are serialised (a mutex), each returns when its logits are on the
// host.  Roles run it through gpu::cuda_engine (engine.device = "cuda").

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <vector>

#include "kernels/cuda/gemm.h"
#include "runtime/gpu/device_block_pool.h"
#include "runtime/kv/sequence_kv.h"
#include "runtime/model/config.h"

namespace prfaas::gpu {

class cuda_model {
 public:
  cuda_model(model::model_config config, int device, int kv_blocks);
  ~cuda_model();
  cuda_model(const cuda_model&) = delete;
  cuda_model& operator=(const cuda_model&) = delete;

  class sequence {
   public:
    ~sequence();
    int tokens() const { return tokens_; }

   private:
    friend class cuda_model;
    explicit sequence(cuda_model& owner) : owner_(owner) {}
    cuda_model& owner_;
    std::vector<std::vector<int>> block_ids_;  // per layer (full layers only)
    std::vector<float**> tables_;              // per layer: device array of its blocks' pointers
    std::vector<float*> states_;               // per layer (linear layers only): device state
    int tokens_ = 0, capacity_ = 0;
  };

  // A sequence with room for `max_tokens` positions.  Throws failure(no_capacity) when the pool
  // has not the blocks, failure(invalid_argument) past the model's context.
  std::unique_ptr<sequence> start(int max_tokens);

  // Appends tokens at the sequence's end; returns the last position's logits.
  std::vector<float> prefill(std::span<const int32_t> tokens, sequence& s) { return run(tokens, s, {}); }
  std::vector<float> decode_step(int32_t token, sequence& s) { return prefill(std::span(&token, 1), s); }

  // hybrid_model::prefill's contract over a host sequence (kv::sequence_kv, what the transport
  // and the prefix cache hold): its KV so far goes up to the GPU, the tokens run there, and
  // after each layer that layer's new blocks (or its state) come back before `hook(layer)`.
  // The host copy stays the sequence's truth, so the roles, the cache and the TCP carrier work
  // unchanged (gpu::cuda_engine); the price is a copy of the context each call.
  std::vector<float> forward_host(std::span<const int32_t> tokens, kv::sequence_kv& kv,
                                  const std::function<void(int layer)>& hook);

  const model::model_config& config() const { return config_; }
  const device_block_pool& pool() const { return pool_; }

 private:
  struct layer {
    float *attn_norm, *ffn_norm, *in_proj, *out_proj, *gate_up, *down;
    int in_cols;
  };
  // The forward pass; after_layer(l), when given, runs with layer l's work finished.
  std::vector<float> run(std::span<const int32_t> tokens, sequence& s, const std::function<void(int layer)>& after_layer);
  float* upload(const std::vector<float>& host);
  float* scratch(size_t floats);

  model::model_config config_;
  int device_;
  void* stream_ = nullptr;  // cudaStream_t
  kernels::cuda::gemm gemm_;
  device_block_pool pool_;
  std::vector<float*> owned_;  // every weight buffer, freed on destruction
  float *embedding_ = nullptr, *final_norm_ = nullptr, *lm_head_ = nullptr;
  std::vector<layer> layers_;
  std::mutex mutex_;
  float* scratch_ = nullptr;
  size_t scratch_floats_ = 0;
  int32_t* tokens_ = nullptr;
  int tokens_capacity_ = 0;
};

}  // namespace prfaas::gpu

#pragma once
// The tiny model on a GPU as a node's engine (engine.device = "cuda[:N]" or prfaas-node
// --device): prefill and decode run on the GPU (gpu::cuda_model), each sequence's KV stays in
// its host kv::sequence_kv, copied up before a call and its new part back layer by layer.  So
// the prefix cache, the layer-wise streaming and the TCP carrier work as with the CPU engine.
// Greedy tokens equal the CPU engine's for the test prompts (tests/gpu/, label gpu); logits
// within float rounding, not bit for bit.
//
// Not yet: KV that stays on the GPU between calls, the NCCL carrier between GPU roles, batched
// decode on the GPU (decode_steps runs sequence by sequence).

#include <memory>

#include "runtime/engine/engine.h"
#include "runtime/gpu/cuda_model.h"

namespace prfaas::gpu {

class cuda_engine final : public engine::engine {
 public:
  // kv_blocks: the GPU pool's blocks (a call takes its sequence's context there, then frees it).
  cuda_engine(model::model_config config, int device, int kv_blocks)
      : model_(std::make_unique<cuda_model>(std::move(config), device, kv_blocks)) {}

  const model::model_config& layout() const override { return model_->config(); }
  ::prfaas::engine::prefill_output prefill(kv::prefix_cache* cache, std::span<const int32_t> prompt, kv::sequence_kv& kv,
                                 const model::payload_hook& on_final = {},
                                 const std::function<void(int layer)>& after_layer = {}) const override;
  int32_t decode_step(int32_t token, kv::sequence_kv& kv) const override;

 private:
  std::unique_ptr<cuda_model> model_;  // serialises its calls
};

}  // namespace prfaas::gpu

#pragma once
// The published checkpoint layout of the Qwen3-Next family: every tensor's name and shape, in
// the order `prfaas model init` writes them.  The loader checks a checkpoint against this list
// (a missing, extra or mis-shaped tensor is named) and the generator writes exactly it, so both
// follow one definition.
//
//   Qwen3NextForCausalLM          model.layers.N.linear_attn.in_proj_qkvz.weight, ...
//   the Qwen3.5 text model        model.language_model.layers.N.linear_attn.in_proj_qkv.weight, ...
//
// Shapes are PyTorch's: a Linear's weight is [out][in]; the depthwise conv1d's [channels][1][kernel].

#include <cstdint>
#include <string>
#include <vector>

#include "runtime/model/config.h"

namespace prfaas::model {

struct tensor_spec {
  std::string name;
  std::vector<int64_t> shape;
  int64_t elements() const {
    int64_t n = 1;
    for (auto d : shape) n *= d;
    return n;
  }
};

// Every tensor the config's model has, in a fixed order.
std::vector<tensor_spec> checkpoint_tensors(const model_config& config);

// The prefix of the decoder's tensors ("model." or "model.language_model.").
std::string tensor_prefix(architecture arch);

// Tensors a published checkpoint may carry that this engine does not compute and skips by
// design: the multi-token-prediction head (mtp.*) and a multimodal checkpoint's vision tower.
bool skipped_tensor(const std::string& name);

}  // namespace prfaas::model

#pragma once
// Random-weight checkpoints in the published layout (`prfaas model init`, and the built-in
// seeded model): every tensor of checkpoint_tensors(config), drawn from a fixed portable
// generator, so one (config, seed) gives the same bytes on every machine.
//
// Scales keep a deep random stack numerically tame: matrices have unit-variance outputs, the
// residual writers (o_proj, out_proj, down_proj) are damped by half, zero-centred norm weights
// are small (the reference scales by 1 + w), A_log gives decays between e^-0.05 and e^-1 a step.

#include <cstdint>
#include <string>
#include <vector>

#include "runtime/model/config.h"
#include "runtime/model/safetensors.h"

namespace prfaas::model {

std::vector<tensor_data> init_tensors(const model_config& config, uint64_t seed, dtype type);

struct init_options {
  uint64_t seed = 42;
  dtype type = dtype::f32;   // f32 or bf16
  int shard_mib = 0;         // > 0: shards of at most this size and an index
  std::string tokenizer_dir; // tokenizer files copied beside the weights (optional)
  std::vector<int> eos_token_ids;  // generation_config.json's (the tokenizer's end-of-turn ids; empty: none)
};

// Writes config.json, generation_config.json and the weights into `dir` (created).
void write_checkpoint(const std::string& dir, const model_config& config, const init_options& options);

}  // namespace prfaas::model

#pragma once
// Shape of a hybrid-attention model of the Qwen3-Next family (Qwen3-Next, the Qwen3.5 text
// model): a stack of layers, each a token mixer (Gated DeltaNet "linear" attention or gated full
// attention) then an FFN (dense SwiGLU MLP or sparse mixture of experts with a shared expert).
//
// A checkpoint's config.json fills it (runtime/model/hf_config.h); the defaults below are the
// built-in seeded test model, a tiny Qwen3-Next whose weights are generated from `seed` and go
// through the same loader.  Every node of a deployment must hold the same model (the router
// refuses a node whose fingerprint differs), because output is compared byte for byte across
// paths; a loaded checkpoint's content hash is part of the fingerprint.

#include <cstdint>
#include <string>
#include <vector>

#include "runtime/kv/kv_layout.h"

namespace prfaas::model {

using layer_kind = kv::layer_kind;  // the KV layer's word for what a layer keeps

// The published modeling code a checkpoint follows: its tensor names and projection packing.
enum class architecture : uint8_t {
  qwen3_next,    // Qwen3NextForCausalLM: packed in_proj_qkvz / in_proj_ba, MoE or dense FFN
  qwen3_5_text,  // the Qwen3.5 text model: separate in_proj_qkv / z / b / a, dense FFN, under model.language_model.
};
const char* name(architecture a);

struct model_config {
  // What computes with this shape; part of the fingerprint.  An emulated engine's layout says
  // "emulated ..." (runtime/engine/emulated_engine.h) and has no weights.
  std::string engine = "tiny-hybrid";
  architecture arch = architecture::qwen3_next;
  int vocab = 256;           // the built-in model: byte-level tokenizer
  int d_model = 256;         // hidden_size
  int n_layers = 8;
  int linear_per_full = 3;   // full_attention_interval - 1: the full layer closes each group
  std::vector<layer_kind> layer_types;  // config.json's layer_types; overrides linear_per_full
  // gated full attention (GQA, q_norm / k_norm, partial rotary, sigmoid output gate)
  int heads = 4;
  int kv_heads = 2;
  int head_dim = 64;
  float rotary_fraction = 0.25f;  // partial_rotary_factor: rotary dims = head_dim * this
  // Gated DeltaNet (linear attention): q and k per key head, v per value head; value head h
  // reads key head h / (linear_heads / key_heads()).
  int linear_key_heads = 0;  // 0: as many as linear_heads
  int linear_heads = 4;      // value heads
  int linear_key_dim = 64;
  int linear_value_dim = 64;
  int conv_kernel = 4;       // the short causal convolution over q, k, v
  // FFN: dense SwiGLU, or a mixture of experts where moe(layer)
  int ffn_dim = 512;         // intermediate_size (dense layers)
  int experts = 0;           // num_experts; 0: every layer dense
  int experts_per_token = 0; // num_experts_per_tok
  int expert_ffn_dim = 0;    // moe_intermediate_size
  int shared_expert_ffn_dim = 0;  // 0: no shared expert
  bool norm_topk_prob = true;
  int decoder_sparse_step = 1;
  std::vector<int> mlp_only_layers;
  bool tie_embeddings = false;
  int max_context = 4096;    // prompt plus generated tokens
  int block_tokens = 64;     // tokens per full-attention KV block
  float rope_theta = 10000.0f;
  float norm_eps = 1e-6f;
  uint64_t seed = 42;        // the built-in model's weights are a pure function of the shape and this seed
  std::string weights_hash;  // a loaded checkpoint's content hash (hex); empty for the built-in model

  layer_kind kind(int layer) const {
    if (!layer_types.empty()) return layer_types[layer];
    return layer % (linear_per_full + 1) == linear_per_full ? layer_kind::full : layer_kind::linear;
  }
  bool moe(int layer) const;
  int full_layers() const;
  int key_heads() const { return linear_key_heads > 0 ? linear_key_heads : linear_heads; }
  int rotary_dim() const;                 // even, at most head_dim
  int conv_channels() const { return 2 * key_heads() * linear_key_dim + linear_heads * linear_value_dim; }
  // Bytes of one full-attention block (K and V, f32) and of one linear layer's state: its
  // convolution state (the last conv_kernel - 1 inputs of every channel) then its recurrent
  // state (linear_heads x key dim x value dim), f32.
  long block_bytes() const { return kv::block_bytes(block_tokens, kv_heads, head_dim); }
  long conv_state_floats() const { return static_cast<long>(conv_channels()) * (conv_kernel - 1); }
  long recurrent_state_floats() const { return static_cast<long>(linear_heads) * linear_key_dim * linear_value_dim; }
  long linear_state_bytes() const {
    return kv::linear_state_bytes(conv_channels(), conv_kernel, linear_heads, linear_key_dim, linear_value_dim);
  }
  int blocks_for(int tokens) const { return kv::blocks_for(tokens, block_tokens); }
  // What the KV layer needs of this shape: its layers' kinds and the sizes that place each byte.
  kv::layout kv_layout() const;
  // Elements of all weights, counted from the shape before any is read.
  int64_t weight_count() const;
  int64_t weight_bytes() const { return 4 * weight_count(); }  // as f32

  // Throws failure(bad_config) naming the first invalid field.
  void validate() const;
  // Canonical one-line text of every field; equal fingerprints mean identical models.
  std::string fingerprint() const;
};

}  // namespace prfaas::model

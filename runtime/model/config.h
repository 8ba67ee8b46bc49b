#pragma once
// Shape of the tiny hybrid-attention model.  Every node of a deployment must hold the same
// configuration (the router refuses a node whose fingerprint differs), because greedy output is
// compared byte for byte across paths.

#include <cstdint>
#include <string>

namespace prfaas::model {

enum class layer_kind : uint8_t { linear, full };

struct model_config {
  // What computes with this shape; part of the fingerprint.  An emulated engine's layout says
  // "emulated ..." (runtime/engine/emulated_engine.h) and has no weights.
  std::string engine = "tiny-hybrid";
  int vocab = 256;           // byte-level tokenizer
  int d_model = 256;
  int n_layers = 8;
  int linear_per_full = 3;   // 3 linear : 1 full; the full layer closes each group
  // full attention (GQA)
  int heads = 4;
  int kv_heads = 2;
  int head_dim = 64;
  // linear attention (gated delta rule)
  int linear_heads = 4;
  int linear_key_dim = 64;
  int linear_value_dim = 64;
  int ffn_dim = 512;         // SwiGLU hidden size
  int max_context = 4096;    // prompt plus generated tokens
  int block_tokens = 64;     // tokens per full-attention KV block
  float rope_theta = 10000.0f;
  float norm_eps = 1e-5f;
  uint64_t seed = 42;        // weights are a pure function of the shape and this seed

  layer_kind kind(int layer) const {
    return layer % (linear_per_full + 1) == linear_per_full ? layer_kind::full : layer_kind::linear;
  }
  int full_layers() const;
  // Bytes of one full-attention block (K and V) and of one linear layer's state.
  long block_bytes() const { return 2L * block_tokens * kv_heads * head_dim * 4; }
  long linear_state_bytes() const { return 4L * linear_heads * linear_value_dim * linear_key_dim; }
  int blocks_for(int tokens) const { return (tokens + block_tokens - 1) / block_tokens; }
  // Bytes of all weights (fp32), counted from the shape before any is allocated.
  int64_t weight_bytes() const;

  // Throws failure(bad_config) naming the first invalid field.
  void validate() const;
  // Canonical one-line text of every field; equal fingerprints mean identical models.
  std::string fingerprint() const;
};

}  // namespace prfaas::model

#pragma once
// What a sequence's KV is, as the KV layer sees it: which layers keep full-attention blocks and
// which a fixed-size linear state, and the sizes that place every byte.  The model fills it
// (model_config::kv_layout()); the pool, the sequence, the prefix cache and the transport need
// nothing else of the model.
//
// Its descriptor is one line a KV stream carries (the hello of every connection), so a receiver
// refuses a stream laid out differently from its own instead of misreading it:
//
//   kv1 f32 layers=LLLF... block=64 full=KT[kv_heads][head_dim][block]+V[block][kv_heads][head_dim]
//   lin=conv[kernel-1][channels]+S[value_heads][key_dim][value_dim] keyheads=K
//
// Equal descriptors mean a block or a state from one node lands bit-compatibly in the other's
// memory (sequence_kv.h holds the layout itself; kernels/cpu/attention.h the block's).

#include <cstdint>
#include <string>
#include <vector>

namespace prfaas::kv {

enum class layer_kind : uint8_t { linear, full };

// The byte arithmetic of the layout, once: a full-attention block (K and V, f32), a linear
// layer's state (its convolution state, then its recurrent state, f32), blocks for a length.
constexpr long block_bytes(int block_tokens, int kv_heads, int head_dim) {
  return 2L * block_tokens * kv_heads * head_dim * 4;
}
constexpr long linear_state_bytes(int conv_channels, int conv_kernel, int value_heads, int key_dim, int value_dim) {
  return 4 * (static_cast<long>(conv_channels) * (conv_kernel - 1) + static_cast<long>(value_heads) * key_dim * value_dim);
}
constexpr int blocks_for(int tokens, int block_tokens) { return (tokens + block_tokens - 1) / block_tokens; }

struct layout {
  std::vector<layer_kind> layers;  // one per layer, in order
  int block_tokens = 64;           // tokens per full-attention block
  int max_context = 4096;          // positions a sequence may hold
  // A full-attention block: K transposed per KV head, then V by token, f32.
  int kv_heads = 0, head_dim = 0;
  // A linear layer's state: its convolution state ([conv_kernel - 1][conv_channels]) then its
  // recurrent state ([value_heads][key_dim][value_dim]), f32.
  int conv_kernel = 0, conv_channels = 0;
  int value_heads = 0, key_heads = 0, key_dim = 0, value_dim = 0;

  int n_layers() const { return static_cast<int>(layers.size()); }
  layer_kind kind(int layer) const { return layers[static_cast<size_t>(layer)]; }
  int full_layers() const;
  long block_bytes() const { return kv::block_bytes(block_tokens, kv_heads, head_dim); }
  long linear_state_bytes() const {
    return kv::linear_state_bytes(conv_channels, conv_kernel, value_heads, key_dim, value_dim);
  }
  int blocks_for(int tokens) const { return kv::blocks_for(tokens, block_tokens); }
  // A sequence of `tokens`: its full-attention blocks and one state per linear layer, less the
  // first `held_blocks` blocks of every full layer (what a receiver already holds is not sent).
  long sequence_bytes(int tokens, int held_blocks = 0) const {
    const int full = full_layers();
    const int blocks = blocks_for(tokens) - held_blocks;
    return static_cast<long>(full) * (blocks > 0 ? blocks : 0) * block_bytes() + (n_layers() - full) * linear_state_bytes();
  }
};

std::string layout_descriptor(const layout& l);

}  // namespace prfaas::kv

#pragma once
// What a sequence's KV bytes are, in one line: the descriptor a KV stream carries (the hello of
// every connection) so a receiver refuses a stream laid out differently from its own instead of
// misreading it.
//
//   kv1 f32 layers=LLLF... block=64 full=KT[kv_heads][head_dim][block]+V[block][kv_heads][head_dim]
//   lin=conv[kernel-1][channels]+S[value_heads][key_dim][value_dim] keyheads=K
//
// Equal descriptors mean a block or a state from one node lands bit-compatibly in the other's
// memory (sequence_kv.h holds the layout itself; kernels/cpu/attention.h the block's).

#include <string>

#include "runtime/model/config.h"

namespace prfaas::kv {

std::string layout_descriptor(const model::model_config& config);

}  // namespace prfaas::kv

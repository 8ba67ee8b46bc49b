#pragma once
// Causal grouped-query attention on the GPU over the paged KV cache, the CPU kernel's block
// layout (kernels/cpu/attention.h: K transposed per KV head, then V by token).  One thread
// block per (query, head) walks the query's blocks in order with an online softmax: scores of
// a block's keys in shared memory (one key per thread, reads coalesced along the transposed
// keys), the block's max and sum by a tree, then each thread owns one output dimension.  The
// same launch serves prefill (rows queries) and decode (one).

#include <cuda_runtime_api.h>

namespace prfaas::kernels::cuda {

// q, out: [rows][heads][head_dim]; blocks: a device array of device pointers to the blocks;
// queries at positions first_position + r see positions 0 .. first_position + r.
// head_dim <= 256, block_tokens <= 256.
void attend_paged(const float* q, int rows, int heads, const float* const* blocks, int block_tokens, int kv_heads,
                  int head_dim, int first_position, float* out, cudaStream_t s);

// Writes rows positions' keys and values (k, v: [rows][kv_heads][head_dim]) at positions
// first .. first + rows - 1 into their blocks (table: device array of device block pointers).
void store_kv(float* const* table, int first, int rows, const float* k, const float* v, int block_tokens, int kv_heads,
              int head_dim, cudaStream_t s);

}  // namespace prfaas::kernels::cuda

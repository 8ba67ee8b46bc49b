#pragma once
// The gated delta rule on the GPU (kernels/cpu/delta_rule.h: the recurrence, the state
// transposed per head, [key_dim][value_dim]).  One thread block per head, one thread per value
// lane; tokens run in order, each step two sweeps over key_dim with the token's k and q in
// shared memory.  Recurrent for prefill too (the chunked form is not built).

#include <cuda_runtime_api.h>

namespace prfaas::kernels::cuda {

// Shapes as the CPU kernel's; key_dim <= 1024, value_dim <= 1024.
void gated_delta_rule(float* state, const float* q, const float* k, const float* v, const float* alpha,
                      const float* beta, int rows, int heads, int key_dim, int value_dim, float* out, cudaStream_t s);

}  // namespace prfaas::kernels::cuda

#pragma once
// Element-wise activations and the sampler's reduction.

namespace prfaas::kernels {

// out[i] = silu(gate[i]) * up[i]; out may alias gate.
void swiglu(const float* gate, const float* up, float* out, long n);  // one thread; callers split rows

// sigmoid(x) applied in place.
void sigmoid(float* x, long n);

// Index of the largest element; the first one on ties (greedy decoding).
int argmax(const float* x, int n);

}  // namespace prfaas::kernels

#pragma once
// `prfaas bench engine`: the tiny model's engine on this machine's CPU: prefill tokens/s and
// achieved GFLOP/s at 512 / 2K / 8K tokens, decode tokens/s at batch 1, 8, 16, 32
// (one batched forward pass a step), and, measured in the same run as the reference, the peak
// of the matrix-multiply library the engine is built on (oneDNN, 2048^3 in f32).  --json prints one object:
// {"device", "peak_gflops", "peak_source", "prefill": [{"tokens", "tokens_per_s", "gflops",
// "peak_ratio"}], "decode": [{"batch", "tokens_per_s"}]}.  --device cuda: the same on a GPU
// against cuBLAS's f32 peak (8192^3); decode at batch 1 only (the GPU model has no batched step).

#include <string>

namespace prfaas::apps {

struct bench_engine_options {
  bool json = false;
  std::string device = "cpu";  // or cuda[:N]: the tiny model on a GPU (runtime/gpu/cuda_model.h)
  int decode_steps = 64;
};

int bench_engine(const bench_engine_options& options);

}  // namespace prfaas::apps

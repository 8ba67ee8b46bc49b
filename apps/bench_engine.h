#pragma once
// `prfaas bench engine [--model DIR]`: a model's engine on this machine's CPU (the built-in
// seeded model, or a checkpoint folder): prefill tokens/s and achieved GFLOP/s at 512 / 2K / 8K
// tokens (those that fit the context), decode tokens/s at batch 1, 8, 16, 32 (one batched
// forward pass a step), and, measured in the same run as the reference, the peak of the
// matrix-multiply library the engine is built on (oneDNN, 2048^3 in f32).  Also the model's
// load time and peak RSS, KV bytes per token and linear-state bytes per request (what crosses
// the link).  --json prints one object: {"model", "device", "peak_gflops", "peak_source",
// "load_s", "rss_after_load_mib", "rss_mib" (peak), "kv_bytes_per_token", "state_bytes_per_request", "weight_bytes",
// "prefill": [{"tokens", "tokens_per_s", "gflops", "peak_ratio"}], "decode": [{"batch", "tokens_per_s"}]}.

#include <string>

namespace prfaas::apps {

struct bench_engine_options {
  bool json = false;
  std::string device = "cpu";  // the engine runs on the CPU; a GPU is refused by name
  std::string model;           // a checkpoint folder; empty: the built-in seeded model
  int decode_steps = 64;
};

int bench_engine(const bench_engine_options& options);

}  // namespace prfaas::apps

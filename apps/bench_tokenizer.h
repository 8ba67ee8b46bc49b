#pragma once
// `prfaas bench tokenizer [--tokenizer FILE] [--json]`: the model's tokenizer on one core of this
// machine: encode and decode MB/s over 1 MB of mixed text (prose, code, CJK, emoji, whitespace
// runs, digits, special tokens), the best of three passes, and tokens per MB.  --json prints one
// object: {"tokenizer", "bytes", "tokens", "encode_mb_per_s", "decode_mb_per_s"}.

#include <string>

namespace prfaas::apps {

struct bench_tokenizer_options {
  std::string tokenizer;  // a tokenizer.json; empty: the Qwen3 test fixture beside the repository
  bool json = false;
};

int bench_tokenizer(const bench_tokenizer_options& options);

}  // namespace prfaas::apps

#include "apps/bench_tokenizer.h"

#include <chrono>
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "runtime/common/errc.h"
#include "runtime/text/bpe_tokenizer.h"

namespace prfaas::apps {

namespace {

// About 1 MB of text of every kind a server sees, in a fixed order.
std::string mixed_text() {
  const std::vector<std::string> parts = {
      "The quick brown fox jumps over the lazy dog; it's what they'll say we've all typed since 1880. ",
      "int main(int argc, char** argv) {\n    for (int i = 0; i < argc; ++i) printf(\"%s\\n\", argv[i]);\n}\n",
      "混合注意力模型的状态很小，日本語のテキストも処理します。한국어 문장도 있습니다. ",
      "Emoji 👋🏽 👨‍👩‍👧‍👦 🇯🇵 🚀✨ and more. ",
      "    \n\n\t\t   \r\n" + std::string(64, ' '),
      "3.14159 2.71828e-10 0x1F 1,000,000 42nd 007 ",
      "<|im_start|>user\nHello there<|im_end|>\n",
      "Привет мир. Γειά σου κόσμε. مرحبا بالعالم. नमस्ते दुनिया. ",
  };
  std::string out;
  for (size_t i = 0; out.size() < (1u << 20); ++i) out += parts[i % parts.size()];
  out.resize(1u << 20);
  // Keep it valid UTF-8 at the cut.
  out.resize(text::complete_utf8_prefix(out));
  return out;
}

}  // namespace

int bench_tokenizer(const bench_tokenizer_options& o) {
  const std::string path =
      o.tokenizer.empty() ? std::string(PRFAAS_SOURCE_DIR "/../shared/fixtures/qwen3-tokenizer/tokenizer.json") : o.tokenizer;
  std::unique_ptr<text::bpe_tokenizer> tok;
  try {
    tok = std::make_unique<text::bpe_tokenizer>(text::bpe_tokenizer::load(path));
  } catch (const failure& f) {
    std::cerr << "prfaas bench tokenizer: " << f.what() << "\n";
    return 2;
  }
  const std::string text = mixed_text();
  using clock = std::chrono::steady_clock;
  double encode_s = 1e9, decode_s = 1e9;
  std::vector<int32_t> ids;
  for (int pass = 0; pass < 3; ++pass) {
    auto t0 = clock::now();
    ids = tok->encode(text);
    encode_s = std::min(encode_s, std::chrono::duration<double>(clock::now() - t0).count());
    t0 = clock::now();
    const auto back = tok->decode(ids);
    decode_s = std::min(decode_s, std::chrono::duration<double>(clock::now() - t0).count());
    if (back != text) {
      std::cerr << "prfaas bench tokenizer: decode(encode(text)) differs from the text\n";
      return 1;
    }
  }
  const double mb = text.size() / 1e6;
  nlohmann::json out = {{"tokenizer", path}, {"bytes", text.size()}, {"tokens", ids.size()},
                        {"encode_mb_per_s", mb / encode_s}, {"decode_mb_per_s", mb / decode_s}};
  if (o.json) {
    std::cout << out.dump() << std::endl;
  } else {
    std::printf("tokenizer %s on one core: %zu bytes of mixed text, %zu tokens\n", path.c_str(), text.size(), ids.size());
    std::printf("encode %.1f MB/s, decode %.1f MB/s (best of 3)\n", mb / encode_s, mb / decode_s);
  }
  return 0;
}

}  // namespace prfaas::apps

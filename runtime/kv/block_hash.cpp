#include "runtime/kv/block_hash.h"

namespace prfaas::kv {

std::vector<uint64_t> block_hash_chain(std::span<const int32_t> tokens, int block_tokens) {
  std::vector<uint64_t> chain;
  uint64_t parent = 0xcbf29ce484222325ull;
  for (size_t start = 0; start + block_tokens <= tokens.size(); start += block_tokens) {
    // FNV-1a over (parent, tokens): a block's key depends on everything before it.
    uint64_t h = parent;
    auto mix = [&h](uint64_t v) {
      for (int i = 0; i < 8; ++i) { h ^= (v >> (8 * i)) & 0xff; h *= 0x100000001b3ull; }
    };
    for (int i = 0; i < block_tokens; ++i) mix(static_cast<uint32_t>(tokens[start + i]));
    chain.push_back(h);
    parent = h;
  }
  return chain;
}

std::vector<uint64_t> reusable_chain(std::span<const int32_t> prompt, int block_tokens) {
  if (prompt.empty()) return {};
  return block_hash_chain(prompt.first(prompt.size() - 1), block_tokens);
}

}  // namespace prfaas::kv

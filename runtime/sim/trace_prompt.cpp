#include "runtime/sim/trace_prompt.h"

#include "runtime/common/errc.h"

namespace prfaas::sim {

std::string trace_prompt(const request& r, int scale) {
  PRFAAS_REQUIRE(scale >= 1 && kTraceBlockTokens % scale == 0, "the token scale must divide 512");
  const int per_block = kTraceBlockTokens / scale;
  const size_t length = static_cast<size_t>((r.input_tokens + scale - 1) / scale);
  std::string out;
  out.reserve(r.blocks.size() * per_block);
  for (uint32_t id : r.blocks) {
    // splitmix64 seeded by the id: lower-case words separated by spaces, readable in logs.
    uint64_t x = 0x9e3779b97f4a7c15ull * (static_cast<uint64_t>(id) + 1);
    for (int i = 0; i < per_block; ++i) {
      x += 0x9e3779b97f4a7c15ull;
      uint64_t z = x;
      z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
      z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
      z ^= z >> 31;
      out.push_back(z % 6 == 0 ? ' ' : static_cast<char>('a' + (z >> 8) % 26));
    }
    if (out.size() >= length) break;
  }
  // A trace whose ids cover fewer tokens than its length: pad deterministically.
  while (out.size() < length) out.push_back('.');
  out.resize(length);
  return out;
}

}  // namespace prfaas::sim

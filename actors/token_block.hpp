#pragma once
// Token ids on the actor plane as one block of bytes.  CAF 0.17 writes a std::vector<int32_t>
// element by element, a virtual call and a buffer append for each id: the prompts of a router's
// jobs were most of what it spent serialising (a 200-token prompt, 200 calls, twice per request).
// A block is its length, then the ids' bytes as they lie in memory (little-endian, the only byte
// order prfaas builds for).  Reading takes the ids in chunks as their bytes arrive, so a length
// that lies costs at most one chunk before the message is refused as cut short.
//
//   return f(caf::meta::type_name("decode_job"), x.request, token_block{x.prompt}, ...);

#include <caf/deserializer.hpp>
#include <caf/serializer.hpp>

#include <algorithm>
#include <bit>
#include <cstdint>
#include <type_traits>
#include <vector>

namespace prfaas::actors {

static_assert(std::endian::native == std::endian::little, "token blocks are little-endian bytes in memory");

struct token_block {
  std::vector<int32_t>& ids;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, token_block x) {
  constexpr size_t kChunk = 64 * 1024;  // ids read at a time
  if constexpr (std::is_base_of_v<caf::serializer, Inspector>) {
    size_t n = x.ids.size();
    if (auto err = f.begin_sequence(n)) return err;
    if (n > 0)
      if (auto err = f.apply_raw(n * sizeof(int32_t), x.ids.data())) return err;
    return f.end_sequence();
  } else if constexpr (std::is_base_of_v<caf::deserializer, Inspector>) {
    size_t n = 0;
    if (auto err = f.begin_sequence(n)) return err;
    x.ids.clear();
    while (x.ids.size() < n) {
      const size_t done = x.ids.size(), take = std::min(kChunk, n - done);
      x.ids.resize(done + take);
      if (auto err = f.apply_raw(take * sizeof(int32_t), x.ids.data() + done)) {
        x.ids.clear();
        return err;
      }
    }
    return f.end_sequence();
  } else {
    return f(x.ids);  // printing: the ids as a list
  }
}

}  // namespace prfaas::actors

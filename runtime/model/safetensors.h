#pragma once
// The safetensors format: an 8-byte little-endian header length, a JSON header naming each
// tensor's dtype, shape and [begin, end) byte offsets into the data that follows, then the data.
//
//   auto file = safetensors::open("model.safetensors");      // mmap, header validated
//   const tensor_view& t = file.at("model.norm.weight");
//   std::vector<float> w(t.elements());
//   t.to_f32(w.data());                                        // bf16 / f16 / f32 widened
//
// Nothing in a file is trusted: the header's length is bounded by the file and by
// max_header_bytes, every entry must have a known dtype, a shape whose element count fits, and
// offsets inside the data whose span equals elements x dtype size; tensors may not overlap.  A
// violation is failure(bad_config) naming the file, the tensor and the numbers, never a read out
// of bounds.  The mapping lives as long as the safetensors object (tensor_views point into it).

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace prfaas::model {

enum class dtype : uint8_t { f32, bf16, f16 };
const char* name(dtype t);
inline int dtype_bytes(dtype t) { return t == dtype::f32 ? 4 : 2; }
// A shape as messages print it: "[2048, 16]".
std::string shape_text(const std::vector<int64_t>& shape);

struct tensor_view {
  std::string name;
  dtype type = dtype::f32;
  std::vector<int64_t> shape;
  std::span<const std::byte> bytes;  // into the file's mapping
  int64_t elements() const;
  // Writes elements() floats: f32 copied, bf16 and f16 widened exactly.
  void to_f32(float* out) const;
  // Rows [row, row + count) of a 2-D tensor, widened: count x shape[1] floats.
  void rows_to_f32(int64_t row, int64_t count, float* out) const;
};

class safetensors {
 public:
  static constexpr uint64_t max_header_bytes = 64ull << 20;

  // Maps `path` read-only and validates its header.
  static safetensors open(const std::string& path);
  // The same over bytes held in memory (the built-in model's generated checkpoint).
  static safetensors from_memory(std::shared_ptr<const std::vector<std::byte>> bytes, std::string label);

  const std::map<std::string, tensor_view>& tensors() const { return tensors_; }
  const tensor_view* find(const std::string& name) const;
  const std::string& label() const { return label_; }
  // The whole file's bytes (header and data): what a content hash reads.
  std::span<const std::byte> file_bytes() const { return all_; }
  // Drops the mapping's resident pages (a file mapping: read again from the file when touched).
  void release_pages() const;

 private:
  struct mapping;
  void parse();
  std::shared_ptr<mapping> map_;
  std::shared_ptr<const std::vector<std::byte>> memory_;
  std::span<const std::byte> all_;
  std::string label_;
  std::map<std::string, tensor_view> tensors_;
};

// A tensor to write: f32 values stored as `type` (bf16 rounds to nearest even).
struct tensor_data {
  std::string name;
  std::vector<int64_t> shape;
  dtype type = dtype::f32;
  std::vector<float> values;
};

// The file's bytes: header (padded with spaces to 8 bytes) and data in the given order.
std::vector<std::byte> write_safetensors(const std::vector<tensor_data>& tensors);

// bf16 and f16 conversions (exact widening; narrowing rounds to nearest even).
float bf16_to_f32(uint16_t h);
uint16_t f32_to_bf16(float f);
float f16_to_f32(uint16_t h);

}  // namespace prfaas::model

#include "runtime/model/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>

#include "runtime/common/errc.h"

namespace prfaas::model {

std::string shape_text(const std::vector<int64_t>& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

const char* name(dtype t) {
  switch (t) {
    case dtype::f32: return "F32";
    case dtype::bf16: return "BF16";
    case dtype::f16: return "F16";
  }
  return "?";
}

float bf16_to_f32(uint16_t h) {
  const uint32_t bits = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

uint16_t f32_to_bf16(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, 4);
  if ((bits & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((bits >> 16) | 0x40);  // NaN stays NaN
  bits += 0x7fffu + ((bits >> 16) & 1u);  // round to nearest even
  return static_cast<uint16_t>(bits >> 16);
}

float f16_to_f32(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1fu, man = h & 0x3ffu, bits;
  if (exp == 0) {
    if (man == 0) {
      bits = sign;
    } else {  // subnormal: normalise
      exp = 127 - 15 + 1;
      while (!(man & 0x400u)) { man <<= 1; --exp; }
      bits = sign | (exp << 23) | ((man & 0x3ffu) << 13);
    }
  } else if (exp == 31) {
    bits = sign | 0x7f800000u | (man << 13);
  } else {
    bits = sign | ((exp + 127 - 15) << 23) | (man << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

int64_t tensor_view::elements() const {
  int64_t n = 1;
  for (auto d : shape) n *= d;
  return n;
}

namespace {

// 16-bit values, possibly unaligned in the file, widened one by one.
void widen16(const std::byte* src, int64_t n, float* out, float (*convert)(uint16_t)) {
  for (int64_t i = 0; i < n; ++i) {
    uint16_t h;
    std::memcpy(&h, src + 2 * i, 2);
    out[i] = convert(h);
  }
}

void widen(dtype type, const std::byte* src, int64_t n, float* out) {
  switch (type) {
    case dtype::f32:
      std::memcpy(out, src, static_cast<size_t>(n) * 4);
      return;
    case dtype::bf16:
      return widen16(src, n, out, bf16_to_f32);
    case dtype::f16:
      return widen16(src, n, out, f16_to_f32);
  }
}

}  // namespace

void tensor_view::to_f32(float* out) const { widen(type, bytes.data(), elements(), out); }

void tensor_view::rows_to_f32(int64_t row, int64_t count, float* out) const {
  PRFAAS_REQUIRE(shape.size() == 2 && row >= 0 && count >= 0 && row + count <= shape[0], "rows out of range");
  const int64_t cols = shape[1];
  widen(type, bytes.data() + row * cols * dtype_bytes(type), count * cols, out);
}

struct safetensors::mapping {
  void* addr = nullptr;
  size_t size = 0;
  ~mapping() {
    if (addr && size) munmap(addr, size);
  }
};

safetensors safetensors::open(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail_config(path, std::string("cannot open: ") + std::strerror(errno));
  struct stat st {};
  if (fstat(fd, &st) != 0) {
    ::close(fd);
    fail_config(path, std::string("cannot stat: ") + std::strerror(errno));
  }
  safetensors s;
  s.label_ = path;
  s.map_ = std::make_shared<mapping>();
  if (st.st_size < 8) {
    ::close(fd);
    fail_config(path, "truncated: " + std::to_string(st.st_size) + " bytes, less than the 8-byte header length");
  }
  void* addr = mmap(nullptr, static_cast<size_t>(st.st_size), PROT_READ, MAP_PRIVATE, fd, 0);
  ::close(fd);
  if (addr == MAP_FAILED) fail_config(path, std::string("cannot map: ") + std::strerror(errno));
  s.map_->addr = addr;
  s.map_->size = static_cast<size_t>(st.st_size);
  s.all_ = {static_cast<const std::byte*>(addr), s.map_->size};
  s.parse();
  return s;
}

safetensors safetensors::from_memory(std::shared_ptr<const std::vector<std::byte>> bytes, std::string label) {
  safetensors s;
  s.label_ = std::move(label);
  s.memory_ = std::move(bytes);
  s.all_ = {s.memory_->data(), s.memory_->size()};
  if (s.all_.size() < 8) fail_config(s.label_, "truncated: less than the 8-byte header length");
  s.parse();
  return s;
}

void safetensors::release_pages() const {
  if (map_ && map_->addr) madvise(map_->addr, map_->size, MADV_DONTNEED);
}

const tensor_view* safetensors::find(const std::string& name) const {
  auto it = tensors_.find(name);
  return it == tensors_.end() ? nullptr : &it->second;
}

void safetensors::parse() {
  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | static_cast<uint8_t>(all_[i]);
  if (header_len > max_header_bytes) fail_config(label_, "header length " + std::to_string(header_len) + " exceeds the bound of " + std::to_string(max_header_bytes));
  if (header_len > all_.size() - 8)
    fail_config(label_, "truncated: header declares " + std::to_string(header_len) + " bytes, the file has " +
                    std::to_string(all_.size() - 8) + " after the length");
  const auto* text = reinterpret_cast<const char*>(all_.data() + 8);
  nlohmann::json header;
  try {
    header = nlohmann::json::parse(text, text + header_len);
  } catch (const nlohmann::json::exception& e) {
    fail_config(label_, std::string("header is not valid JSON: ") + e.what());
  }
  if (!header.is_object()) fail_config(label_, "header is not a JSON object");
  const std::span<const std::byte> data = all_.subspan(8 + header_len);
  std::vector<std::pair<uint64_t, uint64_t>> spans;
  for (const auto& [key, entry] : header.items()) {
    if (key == "__metadata__") continue;
    const std::string where = "tensor " + key;
    if (!entry.is_object() || !entry.contains("dtype") || !entry.contains("shape") || !entry.contains("data_offsets"))
      fail_config(label_, where + ": entry needs dtype, shape and data_offsets");
    tensor_view v;
    v.name = key;
    const auto& dt = entry["dtype"];
    if (!dt.is_string()) fail_config(label_, where + ": dtype is not a string");
    const std::string d = dt.get<std::string>();
    if (d == "F32") v.type = dtype::f32;
    else if (d == "BF16") v.type = dtype::bf16;
    else if (d == "F16") v.type = dtype::f16;
    else fail_config(label_, where + ": unsupported dtype " + d + " (F32, BF16 and F16 are read)");
    const auto& shape = entry["shape"];
    if (!shape.is_array() || shape.size() > 8) fail_config(label_, where + ": shape is not an array of at most 8 dimensions");
    uint64_t elements = 1;
    for (const auto& dim : shape) {
      if (!dim.is_number_unsigned()) fail_config(label_, where + ": shape holds a non-integer or negative dimension");
      const uint64_t n = dim.get<uint64_t>();
      if (n > (1ull << 40) || (n && elements > (1ull << 40) / n)) fail_config(label_, where + ": shape too large");
      elements *= n;
      v.shape.push_back(static_cast<int64_t>(n));
    }
    const auto& off = entry["data_offsets"];
    if (!off.is_array() || off.size() != 2 || !off[0].is_number_unsigned() || !off[1].is_number_unsigned())
      fail_config(label_, where + ": data_offsets is not two non-negative integers");
    const uint64_t begin = off[0].get<uint64_t>(), end = off[1].get<uint64_t>();
    const uint64_t want = elements * static_cast<uint64_t>(dtype_bytes(v.type));
    if (begin > end || end > data.size())
      fail_config(label_, where + ": data_offsets [" + std::to_string(begin) + ", " + std::to_string(end) +
                      ") lie outside the " + std::to_string(data.size()) + " data bytes (truncated or lying header)");
    if (end - begin != want)
      fail_config(label_, where + ": data_offsets span " + std::to_string(end - begin) + " bytes, but " + name(v.type) + " " +
                      shape_text(v.shape) + " needs " + std::to_string(want));
    v.bytes = data.subspan(begin, end - begin);
    spans.emplace_back(begin, end);
    tensors_.emplace(key, std::move(v));
  }
  std::sort(spans.begin(), spans.end());
  for (size_t i = 1; i < spans.size(); ++i)
    if (spans[i].first < spans[i - 1].second) fail_config(label_, "header lies: two tensors' data overlap");
}

std::vector<std::byte> write_safetensors(const std::vector<tensor_data>& tensors) {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  header["__metadata__"] = {{"format", "pt"}};
  uint64_t offset = 0;
  for (const auto& t : tensors) {
    int64_t n = 1;
    for (auto d : t.shape) n *= d;
    PRFAAS_REQUIRE(static_cast<int64_t>(t.values.size()) == n, "tensor values do not match its shape: " + t.name);
    const uint64_t bytes = static_cast<uint64_t>(n) * dtype_bytes(t.type);
    header[t.name] = {{"dtype", name(t.type)}, {"shape", t.shape}, {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');
  std::vector<std::byte> out(8 + text.size() + offset);
  uint64_t len = text.size();
  for (int i = 0; i < 8; ++i) out[i] = static_cast<std::byte>((len >> (8 * i)) & 0xff);
  std::memcpy(out.data() + 8, text.data(), text.size());
  std::byte* p = out.data() + 8 + text.size();
  for (const auto& t : tensors) {
    if (t.type == dtype::f32) {
      std::memcpy(p, t.values.data(), t.values.size() * 4);
      p += t.values.size() * 4;
    } else {
      PRFAAS_REQUIRE(t.type == dtype::bf16, "tensors are written as F32 or BF16");
      for (float f : t.values) {
        const uint16_t h = f32_to_bf16(f);
        std::memcpy(p, &h, 2);
        p += 2;
      }
    }
  }
  return out;
}

}  // namespace prfaas::model

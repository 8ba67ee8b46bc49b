// libFuzzer target for what a model folder hands every node: a safetensors file's bytes
// (first byte 0) or a config.json (first byte 1).  Any input is read or refused with
// failure(bad_config); a crash, a sanitizer report or another exception is a bug.  A header
// that lies about offsets or shapes must never lead to a read outside the file.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "runtime/common/errc.h"
#include "runtime/model/checkpoint.h"
#include "runtime/model/safetensors.h"

using namespace prfaas;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  try {
    if (data[0] == 0) {
      auto bytes = std::make_shared<std::vector<std::byte>>(size - 1);
      for (size_t i = 1; i < size; ++i) (*bytes)[i - 1] = static_cast<std::byte>(data[i]);
      const auto file = model::safetensors::from_memory(bytes, "fuzz");
      std::vector<float> out;
      for (const auto& [name, t] : file.tensors()) {
        if (t.elements() > (1 << 20)) continue;
        out.resize(static_cast<size_t>(t.elements()));
        t.to_f32(out.data());  // reads every byte the header claims
      }
    } else {
      model::parse_hf_config(std::string(reinterpret_cast<const char*>(data + 1), size - 1), "fuzz");
    }
  } catch (const failure& f) {
    if (f.code() != errc::bad_config) std::abort();
  }
  return 0;
}

#include "runtime/model/checkpoint_init.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "runtime/common/errc.h"
#include "runtime/model/checkpoint.h"
#include "runtime/model/tensor_names.h"

namespace prfaas::model {

namespace fs = std::filesystem;

namespace {

// splitmix64: a fixed, portable generator.
struct weight_rng {
  uint64_t state;
  uint64_t next() {
    uint64_t z = (state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  float uniform() { return static_cast<float>(static_cast<double>(next() >> 11) * 0x1.0p-52 - 1.0); }  // [-1, 1)
};

bool ends_with(const std::string& s, const char* tail) {
  const size_t n = std::char_traits<char>::length(tail);
  return s.size() >= n && s.compare(s.size() - n, n, tail) == 0;
}

}  // namespace

std::vector<tensor_data> init_tensors(const model_config& c, uint64_t seed, dtype type) {
  c.validate();
  weight_rng rng{seed};
  std::vector<tensor_data> out;
  for (const auto& spec : checkpoint_tensors(c)) {
    tensor_data t{spec.name, spec.shape, type, std::vector<float>(static_cast<size_t>(spec.elements()))};
    auto& v = t.values;
    const std::string& n = spec.name;
    if (ends_with(n, "layernorm.weight") || ends_with(n, "q_norm.weight") || ends_with(n, "k_norm.weight") ||
        (ends_with(n, ".norm.weight") && n.find("linear_attn") == std::string::npos)) {
      for (auto& x : v) x = 0.1f * rng.uniform();  // zero-centred: scale 1 + w
    } else if (ends_with(n, "linear_attn.norm.weight")) {
      for (auto& x : v) x = 1.0f + 0.1f * rng.uniform();  // the gated norm scales by w itself
    } else if (ends_with(n, "A_log")) {
      for (auto& x : v) x = std::log(0.05f + 0.95f * (0.5f + 0.5f * rng.uniform()));
    } else if (ends_with(n, "dt_bias")) {
      for (auto& x : v) x = 1.0f + 0.5f * rng.uniform();
    } else if (ends_with(n, "conv1d.weight")) {
      const float scale = std::sqrt(3.0f / static_cast<float>(c.conv_kernel));
      for (auto& x : v) x = scale * rng.uniform();
    } else if (ends_with(n, "embed_tokens.weight")) {
      // Unit variance; tied to the LM head, unit-variance outputs instead (as a Linear's), or
      // a token's own row would dominate its logits by a factor of d_model.
      const float scale = c.tie_embeddings ? std::sqrt(3.0f / static_cast<float>(c.d_model)) : std::sqrt(3.0f);
      for (auto& x : v) x = scale * rng.uniform();
    } else {
      // A Linear's weight [out][in]: unit-variance outputs for unit-variance inputs.
      const int64_t in = spec.shape.back();
      float scale = std::sqrt(3.0f / static_cast<float>(in));
      if (ends_with(n, "o_proj.weight") || ends_with(n, "out_proj.weight") || ends_with(n, "down_proj.weight"))
        scale *= 0.5f;  // the residual writers: deep stacks stay well scaled
      for (auto& x : v) x = scale * rng.uniform();
    }
    if (type == dtype::bf16)  // what the file will hold, so a reader widening it sees these values
      for (auto& x : v) x = bf16_to_f32(f32_to_bf16(x));
    out.push_back(std::move(t));
  }
  return out;
}

namespace {

void write_file(const fs::path& p, const void* data, size_t size) {
  std::ofstream f(p, std::ios::binary | std::ios::trunc);
  f.write(static_cast<const char*>(data), static_cast<std::streamsize>(size));
  if (!f) throw failure(errc::internal, "cannot write " + p.string());
}

}  // namespace

void write_checkpoint(const std::string& dir_text, const model_config& c, const init_options& o) {
  PRFAAS_REQUIRE(o.type == dtype::f32 || o.type == dtype::bf16, "checkpoints are written as f32 or bf16");
  PRFAAS_REQUIRE(o.shard_mib >= 0 && o.shard_mib <= (1 << 20), "shard size 0..1048576 MiB");
  const fs::path dir(dir_text);
  fs::create_directories(dir);
  const std::string config = hf_config_json(c);
  write_file(dir / "config.json", config.data(), config.size());
  nlohmann::ordered_json gen{{"bos_token_id", nullptr}, {"eos_token_id", nullptr}, {"do_sample", false}};
  if (!o.tokenizer_dir.empty()) {
    for (const char* f : {"tokenizer.json", "tokenizer_config.json"})
      if (fs::exists(fs::path(o.tokenizer_dir) / f))
        fs::copy_file(fs::path(o.tokenizer_dir) / f, dir / f, fs::copy_options::overwrite_existing);
  }
  for (int id : o.eos_token_ids) PRFAAS_REQUIRE(id >= 0 && id < c.vocab, "an eos token id outside the vocabulary");
  if (!o.eos_token_ids.empty()) gen["eos_token_id"] = o.eos_token_ids;
  const std::string gtext = gen.dump(2) + "\n";
  write_file(dir / "generation_config.json", gtext.data(), gtext.size());
  auto tensors = init_tensors(c, o.seed, o.type);
  fs::remove(dir / "model.safetensors");
  fs::remove(dir / "model.safetensors.index.json");
  if (o.shard_mib == 0) {
    const auto bytes = write_safetensors(tensors);
    write_file(dir / "model.safetensors", bytes.data(), bytes.size());
    return;
  }
  // Shards: tensors in order, a new shard when the next would pass the size (one tensor at least).
  const int64_t limit = int64_t{o.shard_mib} << 20;
  std::vector<std::vector<tensor_data>> shards(1);
  int64_t size = 0, total = 0;
  for (auto& t : tensors) {
    const int64_t bytes = static_cast<int64_t>(t.values.size()) * dtype_bytes(t.type);
    if (size > 0 && size + bytes > limit) {
      shards.emplace_back();
      size = 0;
    }
    size += bytes;
    total += bytes;
    shards.back().push_back(std::move(t));
  }
  nlohmann::ordered_json index{{"metadata", {{"total_size", total}}}, {"weight_map", nlohmann::ordered_json::object()}};
  for (size_t i = 0; i < shards.size(); ++i) {
    char file[64];
    std::snprintf(file, sizeof file, "model-%05zu-of-%05zu.safetensors", i + 1, shards.size());
    for (const auto& t : shards[i]) index["weight_map"][t.name] = file;
    const auto bytes = write_safetensors(shards[i]);
    write_file(dir / file, bytes.data(), bytes.size());
  }
  const std::string itext = index.dump(2) + "\n";
  write_file(dir / "model.safetensors.index.json", itext.data(), itext.size());
}

}  // namespace prfaas::model

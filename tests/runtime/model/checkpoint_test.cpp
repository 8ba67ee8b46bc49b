// A model folder is checked before anything computes with it: every way a checkpoint can be
// wrong is a failure(bad_config) that names the cause, never a crash or a silent default.

#include <catch2/catch.hpp>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "runtime/common/errc.h"
#include "runtime/kv/block_pool.h"
#include "runtime/kv/sequence_kv.h"
#include "runtime/model/checkpoint.h"
#include "runtime/model/checkpoint_init.h"
#include "runtime/model/hybrid_model.h"

using namespace prfaas;
namespace fs = std::filesystem;

namespace {

struct folder {
  fs::path path = fs::temp_directory_path() / ("prfaas-ck-" + std::to_string(::getpid()) + "-" + std::to_string(counter()++));
  ~folder() { fs::remove_all(path); }
  static int& counter() {
    static int n = 0;
    return n;
  }
};

model::model_config tester() {
  std::ifstream in(PRFAAS_SOURCE_DIR "/configs/models/qwen3-next-tester.json");
  std::stringstream s;
  s << in.rdbuf();
  return model::parse_hf_config(s.str(), "tester");
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const failure& e) {
    CHECK(e.code() == errc::bad_config);
    return e.what();
  }
  FAIL("no error");
  return "";
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}
void spit(const fs::path& p, const std::string& text) {
  std::ofstream(p, std::ios::binary | std::ios::trunc) << text;
}

std::vector<float> logits_of(const model::checkpoint& ck, std::vector<int32_t> prompt) {
  const model::hybrid_model m(std::make_shared<const model::checkpoint>(ck));
  kv::block_pool pool(m.config().block_bytes(), 8);
  kv::sequence_kv kv(m.config().kv_layout(), pool);
  return m.prefill(prompt, kv);
}

}  // namespace

TEST_CASE("a checkpoint written by model init reads back: one file or shards give the same weights and hash-distinct folders") {
  folder one, sharded;
  const auto c = tester();
  model::write_checkpoint(one.path, c, {.seed = 3, .type = model::dtype::bf16});
  model::write_checkpoint(sharded.path, c, {.seed = 3, .type = model::dtype::bf16, .shard_mib = 1});
  CHECK(fs::exists(sharded.path / "model.safetensors.index.json"));
  const auto a = model::checkpoint::open(one.path.string()), b = model::checkpoint::open(sharded.path.string());
  CHECK(a.config().fingerprint().find("weights=") != std::string::npos);
  CHECK(logits_of(a, {1, 2, 3}) == logits_of(b, {1, 2, 3}));
  folder other;
  model::write_checkpoint(other.path, c, {.seed = 4, .type = model::dtype::bf16});
  CHECK(model::checkpoint::open(other.path.string()).config().weights_hash != a.config().weights_hash);
}

TEST_CASE("a corrupt, truncated or lying weight file is refused by name") {
  folder f;
  model::write_checkpoint(f.path, tester(), {.seed = 1});
  const auto file = f.path / "model.safetensors";
  const std::string good = slurp(file);
  spit(file, good.substr(0, good.size() / 2));
  CHECK_THAT(error_of([&] { model::checkpoint::open(f.path.string()); }), Catch::Contains("lie outside"));
  spit(file, good.substr(0, 5));
  CHECK_THAT(error_of([&] { model::checkpoint::open(f.path.string()); }), Catch::Contains("truncated"));
  std::string bad_json = good;
  bad_json[8] = '!';  // the header's opening brace
  spit(file, bad_json);
  CHECK_THAT(error_of([&] { model::checkpoint::open(f.path.string()); }), Catch::Contains("not valid JSON"));
  // A header whose length points past the file.
  std::string long_header = good;
  long_header[5] = '\x7f';
  spit(file, long_header);
  CHECK_THAT(error_of([&] { model::checkpoint::open(f.path.string()); }), Catch::Contains("header"));
  // Offsets that disagree with the shape, and a dtype the engine does not read.
  std::string lying = good;
  const auto at = lying.find("\"F32\"");
  REQUIRE(at != std::string::npos);
  lying.replace(at, 5, "\"I32\"");
  spit(file, lying);
  CHECK_THAT(error_of([&] { model::checkpoint::open(f.path.string()); }), Catch::Contains("unsupported dtype I32"));
  std::string wrong_span = good;
  const auto sh = wrong_span.find("\"shape\":[99,32]");
  REQUIRE(sh != std::string::npos);
  wrong_span.replace(sh, 15, "\"shape\":[98,32]");
  spit(file, wrong_span);
  CHECK_THAT(error_of([&] { model::checkpoint::open(f.path.string()); }), Catch::Contains("needs"));
}

TEST_CASE("a missing, extra or mis-shaped tensor names the tensor and both shapes") {
  folder f;
  auto c = tester();
  model::write_checkpoint(f.path, c, {.seed = 1});
  // The config claims a wider FFN than the weights hold.
  auto wider = nlohmann::json::parse(slurp(f.path / "config.json"));
  wider["intermediate_size"] = 40;
  wider["mlp_only_layers"] = {1};
  spit(f.path / "config.json", wider.dump());
  CHECK_THAT(error_of([&] { model::checkpoint::open(f.path.string()); }),
             Catch::Contains("missing tensor model.layers.1.mlp.gate_proj.weight [40, 32]"));
  // Weights of another shape under the expected names.
  auto narrower = nlohmann::json::parse(slurp(f.path / "config.json"));
  narrower["mlp_only_layers"] = nlohmann::json::array();
  narrower["moe_intermediate_size"] = 10;
  spit(f.path / "config.json", narrower.dump());
  CHECK_THAT(error_of([&] { model::checkpoint::open(f.path.string()); }),
             Catch::Contains("has shape [12, 32], the config implies [10, 32]"));
  // A tensor the architecture has no place for.
  narrower["moe_intermediate_size"] = 12;
  narrower["shared_expert_intermediate_size"] = 0;
  spit(f.path / "config.json", narrower.dump());
  CHECK_THAT(error_of([&] { model::checkpoint::open(f.path.string()); }), Catch::Contains("unexpected tensor") &&
                                                                             Catch::Contains("shared_expert"));
}

TEST_CASE("an unsupported architecture, field or value is an error at load naming it") {
  folder f;
  model::write_checkpoint(f.path, tester(), {.seed = 1});
  const auto base = nlohmann::json::parse(slurp(f.path / "config.json"));
  auto with = [&](const std::string& key, const nlohmann::json& value) {
    auto j = base;
    j[key] = value;
    spit(f.path / "config.json", j.dump());
    return error_of([&] { model::checkpoint::open(f.path.string()); });
  };
  CHECK_THAT(with("model_type", "llama"), Catch::Contains("unsupported model_type \"llama\""));
  CHECK_THAT(with("architectures", {"LlamaForCausalLM"}), Catch::Contains("unsupported architecture \"LlamaForCausalLM\""));
  CHECK_THAT(with("hidden_act", "gelu"), Catch::Contains("unsupported hidden_act \"gelu\""));
  CHECK_THAT(with("attention_bias", true), Catch::Contains("attention_bias"));
  CHECK_THAT(with("rope_scaling", {{"type", "yarn"}}), Catch::Contains("rope_scaling"));
  CHECK_THAT(with("layer_types", {"linear_attention", "sliding_attention"}), Catch::Contains("sliding_attention"));
  CHECK_THAT(with("frobnicate", 1), Catch::Contains("unsupported config field frobnicate"));
  CHECK_THAT(with("hidden_size", "wide"), Catch::Contains("hidden_size"));
  fs::remove(f.path / "model.safetensors");
  spit(f.path / "config.json", base.dump());
  CHECK_THAT(error_of([&] { model::checkpoint::open(f.path.string()); }), Catch::Contains("holds no model.safetensors"));
}

TEST_CASE("bf16 and f16 widen exactly, bf16 narrowing rounds to nearest even") {
  CHECK(model::bf16_to_f32(0x3f80) == 1.0f);
  CHECK(model::bf16_to_f32(0xc000) == -2.0f);
  CHECK(model::f16_to_f32(0x3c00) == 1.0f);
  CHECK(model::f16_to_f32(0xc000) == -2.0f);
  CHECK(model::f16_to_f32(0x0001) == std::ldexp(1.0f, -24));  // the smallest subnormal
  CHECK(model::f32_to_bf16(1.0f) == 0x3f80);
  CHECK(model::f32_to_bf16(1.00390625f) == 0x3f80);  // halfway between 0x3f80 and 0x3f81: to even
  CHECK(model::f32_to_bf16(1.01171875f) == 0x3f82);  // halfway between 0x3f81 and 0x3f82: to even
}

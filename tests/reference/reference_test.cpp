// The engine against the published implementation (transformers on PyTorch), through fixtures
// that tests/reference/make_fixtures.py wrote (`./prfaas reference`).  Each fixture names a
// config, a seed and a dtype: the test writes that checkpoint again with the project's own
// `model init` code, checks it is byte for byte the one the reference loaded (content hash),
// loads it through the engine's loader and holds the engine to the reference's numbers:
//   - last-position logits of the 64-token prompt within 1e-4 relative error (f32 compute),
//   - the 32 greedy tokens equal, each step's top-5 ids equal and log-probabilities within 1e-3.

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <unistd.h>

#include "runtime/kv/block_pool.h"
#include "runtime/kv/sequence_kv.h"
#include "runtime/model/checkpoint.h"
#include "runtime/model/checkpoint_init.h"
#include "runtime/model/hybrid_model.h"
#include "runtime/model/logprobs.h"

using namespace prfaas;
namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

std::string read(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

void check_fixture(const std::string& name) {
  const fs::path root(PRFAAS_SOURCE_DIR);
  const json f = json::parse(read(root / "tests/reference/fixtures" / (name + ".json")));
  const auto config = model::parse_hf_config(read(root / f["config"].get<std::string>()), f["config"].get<std::string>());
  const fs::path dir = fs::temp_directory_path() / ("prfaas-reference-" + name + "-" + std::to_string(::getpid()));
  model::init_options o;
  o.seed = f["seed"].get<uint64_t>();
  o.type = f["dtype"].get<std::string>() == "bf16" ? model::dtype::bf16 : model::dtype::f32;
  model::write_checkpoint(dir.string(), config, o);
  auto ck = std::make_shared<const model::checkpoint>(model::checkpoint::open(dir.string()));
  fs::remove_all(dir);
  INFO("fixture " << name << " (transformers " << f["transformers"].get<std::string>() << ")");
  REQUIRE(ck->config().weights_hash == f["content_hash"].get<std::string>());

  const model::hybrid_model m(ck);
  const auto& c = m.config();
  const auto prompt = f["prompt_ids"].get<std::vector<int32_t>>();
  const auto ref_tokens = f["greedy_tokens"].get<std::vector<int32_t>>();
  kv::block_pool pool(c.block_bytes(), static_cast<size_t>(c.full_layers()) * c.blocks_for(static_cast<int>(prompt.size() + ref_tokens.size())) + 1);
  kv::sequence_kv kv(c.kv_layout(), pool);
  auto logits = m.prefill(prompt, kv);

  const auto ref_logits = f["last_logits"].get<std::vector<float>>();
  REQUIRE(ref_logits.size() == logits.size());
  double worst = 0, scale = 0;
  for (size_t i = 0; i < logits.size(); ++i) {
    worst = std::max(worst, std::abs(static_cast<double>(logits[i]) - ref_logits[i]));
    scale = std::max(scale, std::abs(static_cast<double>(ref_logits[i])));
  }
  const double rel = worst / scale;
  std::printf("reference %s: last logits max relative error %.3g\n", name.c_str(), rel);
  CHECK(rel <= 1e-4);

  double worst_lp = 0;
  for (size_t step = 0; step < ref_tokens.size(); ++step) {
    const auto lp = model::log_softmax(logits);
    const auto top = model::top_logprobs(lp, 5);
    const auto& want = f["steps"][step];
    for (int i = 0; i < 5; ++i) {
      INFO("step " << step << ", rank " << i);
      CHECK(top[i].first == want["top_ids"][i].get<int32_t>());
      worst_lp = std::max(worst_lp, std::abs(static_cast<double>(lp[want["top_ids"][i].get<int32_t>()]) -
                                             want["top_logprobs"][i].get<double>()));
    }
    const int32_t next = model::greedy(logits);
    INFO("step " << step);
    REQUIRE(next == ref_tokens[step]);
    if (step + 1 < ref_tokens.size()) logits = m.decode_step(next, kv);
  }
  std::printf("reference %s: %zu greedy tokens equal; top-5 log-probabilities max error %.3g\n", name.c_str(),
              ref_tokens.size(), worst_lp);
  CHECK(worst_lp <= 1e-3);
}

}  // namespace

TEST_CASE("Qwen3-Next, the transformers tester config: logits, greedy tokens and top-5 log-probabilities match transformers") {
  check_fixture("qwen3-next-tester");
}

TEST_CASE("Qwen3-Next, 8 layers of every kind with dense and MoE FFN, bf16 weights: matches transformers") {
  check_fixture("qwen3-next-8layer");
}

TEST_CASE("Qwen3.5 text model, separate projections and tied embeddings, bf16 weights: matches transformers") {
  check_fixture("qwen3.5-tiny");
}

// The official OpenAI Python client (PyPI `openai`, in the reference virtual environment that
// `./prfaas reference` makes), unchanged, against a deployment of a generated checkpoint with the
// real Qwen3 tokenizer and chat template: tests/client/openai_client.py runs chat and completions,
// streamed and not, with temperature, top_p, seed, stop, n = 2 and logprobs, and the error
// cases.  Skipped (with the reason) where the environment or the tokenizer files are missing.

#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include <filesystem>

#include "tests/support/process.h"
#include "tests/support/skip_main.h"

using namespace prfaas::testing;
namespace fs = std::filesystem;

namespace {

const std::string kPython = PRFAAS_SOURCE_DIR "/.venv-reference/bin/python";
const std::string kTokenizer = PRFAAS_SOURCE_DIR "/../shared/fixtures/qwen3-tokenizer";

std::string why_not() {
  if (!fs::exists(kTokenizer + "/tokenizer.json")) return "the Qwen3 tokenizer files are not at " + kTokenizer;
  if (!fs::exists(kPython)) return "no reference environment (./prfaas reference makes it)";
  if (run({kPython, "-c", "import openai"}, 30000).status != 0) return "the openai package is not in " + kPython;
  return "";
}

}  // namespace

TEST_CASE("the official OpenAI client, unchanged: chat and completions, streamed and not, sampling, seed, stop, n, logprobs, errors") {
  temp_dir dir;
  const std::string model = dir.path() + "/qwen3-next-4layer";
  const auto made = run({PRFAAS_CLI, "model", "init", "--config", PRFAAS_SOURCE_DIR "/configs/models/qwen3-next-4layer-qwen3-vocab.json",
                         "--out", model, "--dtype", "bf16", "--tokenizer", kTokenizer});
  INFO(made.out << made.err);
  REQUIRE(made.status == 0);
  deployment d("[engine]\nkind = \"hf\"\nmodel = \"" + model + "\"\n[node]\nkv_blocks = 2048\n[gateway]\nmodel = \"qwen3-next-test\"\n");
  const auto r = run({kPython, PRFAAS_SOURCE_DIR "/tests/client/openai_client.py", "http://" + d.gateway() + "/v1", "qwen3-next-test"},
                     300000);
  std::printf("%s", r.out.c_str());
  INFO(r.out << r.err);
  CHECK(r.status == 0);
  CHECK(r.out.find("\nok\n") != std::string::npos);
}

int main(int argc, char** argv) { return prfaas::testing::run_or_skip(argc, argv, why_not); }

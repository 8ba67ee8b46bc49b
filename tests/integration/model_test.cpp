// A deployment of a real checkpoint: `prfaas model init` writes a Qwen3-Next in the published
// layout (8 layers of every kind, dense and MoE FFN, bf16, sharded), every node loads it
// (engine.kind = "hf"), and the served output is byte-identical to the in-process engine on the
// local and PrfaaS paths, on a prefix-cache hit and after a PrfaaS prefill node is killed.

#include <catch2/catch.hpp>

#include <signal.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <thread>

#include "tests/support/process.h"

using namespace prfaas::testing;
using json = nlohmann::json;

namespace {

std::string make_model(const temp_dir& dir, const std::string& seed) {
  const std::string path = dir.path() + "/qwen3-next-8layer-" + seed;
  const auto made = run({PRFAAS_CLI, "model", "init", "--config", PRFAAS_SOURCE_DIR "/configs/models/qwen3-next-8layer.json",
                         "--out", path, "--seed", seed, "--dtype", "bf16", "--shard-mib", "1"});
  INFO(made.out << made.err);
  REQUIRE(made.status == 0);
  return path;
}

json in_process(const std::string& model, const std::string& prompt, int max_tokens, std::vector<std::string> extra = {}) {
  std::vector<std::string> cmd = {PRFAAS_CLI, "generate", "--in-process", "--json", "--model", model, "--prompt", prompt,
                                  "--max-tokens", std::to_string(max_tokens)};
  cmd.insert(cmd.end(), extra.begin(), extra.end());
  return parse_ok(run(cmd));
}

// Seeded sampling, hot enough that every token is a draw.
const std::vector<std::string> kSampled = {"--temperature", "1.3", "--top-p", "0.95", "--top-k", "50", "--seed", "1234"};

}  // namespace

TEST_CASE("a generated Qwen3-Next checkpoint served by a deployment: local, PrfaaS, cached and after a lost prefill node, byte-identical") {
  temp_dir models;
  const std::string model = make_model(models, "5");
  // Its KV blocks are 32 KiB: twice the default pool, so the prefix cache's 32 MiB fit in half.
  deployment d("[engine]\nkind = \"hf\"\nmodel = \"" + model + "\"\n[node]\nkv_blocks = 2048\n[router]\nthreshold_tokens = 256\n");
  const std::string short_prompt = text_prompt(120), long_prompt = text_prompt(1500);
  const json short_ref = in_process(model, short_prompt, 12), long_ref = in_process(model, long_prompt, 12);

  const json s = parse_ok(d.generate(short_prompt, 12));
  CHECK(s["path"] == "local");
  CHECK(s["tokens"] == short_ref["tokens"]);
  const json l = parse_ok(d.generate(long_prompt, 12));
  CHECK(l["path"] == "prfaas");
  CHECK(l["tokens"] == long_ref["tokens"]);

  // Seeded sampling: the in-process draw on both paths; another seed draws other tokens.
  const json short_sampled = in_process(model, short_prompt, 12, kSampled), long_sampled = in_process(model, long_prompt, 12, kSampled);
  CHECK(short_sampled["tokens"] != short_ref["tokens"]);
  auto sampled = [&](const std::string& prompt, const std::vector<std::string>& flags) {
    return parse_ok(d.generate(prompt, 12, flags));
  };
  const json ss = sampled(short_prompt, kSampled), ls = sampled(long_prompt, kSampled);
  CHECK(ss["path"] == "local");
  CHECK(ss["tokens"] == short_sampled["tokens"]);
  CHECK(ls["path"] == "prfaas");
  CHECK(ls["tokens"] == long_sampled["tokens"]);
  auto other_seed = kSampled;
  other_seed.back() = "4321";
  CHECK(sampled(short_prompt, other_seed)["tokens"] != ss["tokens"]);
  CHECK(sampled(short_prompt, {"--temperature", "0", "--seed", "7"})["tokens"] == short_ref["tokens"]);  // 0: greedy

  // The same long prompt again: its prefix comes from a cache, the output does not change.
  const json again = parse_ok(d.generate(long_prompt, 12));
  CHECK(again["cached_tokens"].get<int>() > 0);
  CHECK(again["tokens"] == long_ref["tokens"]);
  const json again_sampled = sampled(long_prompt, kSampled);
  CHECK(again_sampled["cached_tokens"].get<int>() > 0);
  CHECK(again_sampled["tokens"] == long_sampled["tokens"]);

  // A PrfaaS prefill node lost: long prompts are served by the other one, same output.
  REQUIRE(::kill(d.pid_of("prfaas-prefill-0"), SIGKILL) == 0);
  const std::string other = text_prompt(1400);
  const json after = parse_ok(d.generate(other, 12));
  CHECK(after["path"] == "prfaas");
  CHECK(after["tokens"] == in_process(model, other, 12)["tokens"]);
  CHECK(sampled(other, kSampled)["tokens"] == in_process(model, other, 12, kSampled)["tokens"]);
  CHECK(parse_ok(d.generate(short_prompt, 12))["tokens"] == short_ref["tokens"]);
}

TEST_CASE("nodes must hold the same checkpoint: a node loading other weights of the same shape is refused by name") {
  temp_dir models;
  const std::string model = make_model(models, "5"), other = make_model(models, "6");
  deployment d("[engine]\nkind = \"hf\"\nmodel = \"" + model + "\"\n[node]\nkv_blocks = 2048\n");
  // An extra decode node, with its own certificate, started against this router with the other
  // checkpoint: the router refuses its registration, naming both models' fingerprints.
  temp_dir dir;
  const std::string name = "decode-7";
  REQUIRE(run({PRFAAS_CLI, "certs", "--state", d.state_dir(), "--name", name, "--role", "decode", "--out", dir.path()})
              .status == 0);
  const auto r = run({PRFAAS_NODE, "--role=decode", "--cluster=local", "--name=" + name, "--router=" + d.router(),
                      "--secret-file=" + d.state_dir() + "/secret", "--ca=" + dir.path() + "/ca.pem",
                      "--cert=" + dir.path() + "/" + name + ".pem", "--key=" + dir.path() + "/" + name + ".key",
                      "--listen=127.0.0.1:0", "--model=" + other},
                     30000);
  INFO(r.out << r.err);
  CHECK(r.status != 0);
  CHECK_THAT(r.err, Catch::Contains("decode-7 runs model") && Catch::Contains("weights="));
}

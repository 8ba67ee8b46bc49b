// One request, end to end, each role in its own process: the greedy output is byte-identical in
// process, through the local PD path and through the PrfaaS path.

#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "tests/support/process.h"

using namespace prfaas::testing;
using json = nlohmann::json;

namespace {
// t = 256 tokens: prompts above it cross to the PrfaaS cluster.
const char* kConfig = "[router]\nthreshold_tokens = 256\n";

}  // namespace

TEST_CASE("greedy output is byte-identical in process, on the local path and on the PrfaaS path") {
  deployment d(kConfig);
  struct probe { int bytes; const char* path; };
  // 100: two partial blocks; 128: exactly two 64-token blocks; 1500: 24 blocks over the link.
  for (const probe p : {probe{100, "local"}, probe{128, "local"}, probe{1500, "prfaas"}}) {
    INFO("prompt of " << p.bytes << " bytes");
    const std::string prompt = text_prompt(p.bytes);
    const json reference = parse_ok(generate_in_process(prompt, 12, d.config_path()));
    const json served = parse_ok(d.generate(prompt, 12));
    CHECK(served["path"] == p.path);
    CHECK(served["tokens"] == reference["tokens"]);
    CHECK(served["text"] == reference["text"]);
    CHECK(served["tokens"].size() == 12);
    CHECK(served["ttft_ms"].get<double>() > 0);
    CHECK(served["kv_bytes"].get<long>() > 0);
    if (std::string(p.path) == "prfaas") CHECK_THAT(served["prefill_node"].get<std::string>(), Catch::StartsWith("prfaas-prefill-"));
    else CHECK(served["prefill_node"] == "local-prefill-0");
    CHECK_THAT(served["decode_node"].get<std::string>(), Catch::StartsWith("decode-"));
  }
}

TEST_CASE("the KV moved grows with the full-attention blocks while linear states stay fixed") {
  deployment d(kConfig);
  const json a = parse_ok(d.generate(text_prompt(64 * 5), 2));   // 5 blocks per full layer
  // Another start: no block of it is in a decode node's cache (which holds a's).
  const json b = parse_ok(d.generate("~" + text_prompt(64 * 10 - 1), 2));  // 10 blocks per full layer
  // Default model: 2 full layers of 64 KiB blocks, 6 linear layers of 73 KiB state (a 64 KiB
  // recurrent state, and the conv state: 3 past inputs of 768 channels).
  CHECK(a["kv_bytes"] == 6 * (65536 + 3 * 768 * 4) + 2 * 5 * 65536);
  CHECK(b["kv_bytes"].get<long>() - a["kv_bytes"].get<long>() == 2 * 5 * 65536);
}

TEST_CASE("concurrent requests on both paths all complete with their reference output") {
  deployment d(kConfig);
  std::vector<std::string> prompts = {text_prompt(90), text_prompt(900), text_prompt(200), text_prompt(1200)};
  std::vector<std::unique_ptr<child>> clients;
  temp_dir out;
  for (const auto& p : prompts)
    clients.push_back(std::make_unique<child>(
        std::vector<std::string>{PRFAAS_CLI, "generate", "--json", "--state", d.state_dir(), "--prompt", p, "--max-tokens", "8"},
        out.path()));
  for (size_t i = 0; i < prompts.size(); ++i) {
    const json served = parse_ok(clients[i]->wait(120000));
    const json reference = parse_ok(generate_in_process(prompts[i], 8, d.config_path()));
    CHECK(served["tokens"] == reference["tokens"]);
  }
}

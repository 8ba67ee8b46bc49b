// A deployment on the emulated engine (profiles played back in time, runtime/engine): its
// tokens are a deterministic hash of the prompt, so every path and every fault must give the
// in-process reference's tokens, and its KV crosses the transport at the profile's size.

#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "runtime/profile/emulated_layout.h"
#include "tests/support/process.h"

using namespace prfaas;
using namespace prfaas::testing;
using json = nlohmann::json;

namespace {

// H200 PrfaaS nodes, H20 local nodes, 20x faster than the profiles, KV 256x smaller.
// Prompts of more than 8,192 uncached tokens cross to the PrfaaS cluster.
std::string emulated_config(const std::string& extra = "") {
  return std::string("[engine]\nkind = \"emulated\"\nprofile = \"") + PRFAAS_SOURCE_DIR +
         "/profiles/h20-1t-hybrid.toml\"\nprofile_prfaas = \"" + PRFAAS_SOURCE_DIR +
         "/profiles/h200-1t-hybrid.toml\"\ntime_scale = 20\nkv_scale = 256\n"
         "[router]\nthreshold_tokens = 8192\nmax_attempts = 5\n[node]\nkv_blocks = 2048\nprefill_token_budget = 65536\n"
         "[cache]\nbudget_mib = 8\n" + extra;
}

struct probe {
  int bytes;
  const char* path;
};
const probe kProbes[] = {{300, "local"}, {5000, "local"}, {20000, "prfaas"}, {60000, "prfaas"}};

}  // namespace

TEST_CASE("an emulated deployment returns the in-process tokens on both paths and moves the profile's KV") {
  deployment d(emulated_config());
  const auto h20 = profile::load_profile(PRFAAS_SOURCE_DIR "/profiles/h20-1t-hybrid.toml");
  const auto layout = profile::make_emulated_layout(h20, 256, 135168, "");
  for (const probe p : kProbes) {
    INFO("prompt of " << p.bytes << " bytes");
    const std::string prompt = text_prompt(p.bytes);
    const json reference = parse_ok(generate_in_process(prompt, 16, d.config_path()));
    const json served = parse_ok(d.generate(prompt, 16));
    CHECK(served["path"] == p.path);
    CHECK(served["tokens"] == reference["tokens"]);
    CHECK(served["tokens"].size() == 16);
    // The profile's S_kv(l), scaled: what really crossed the transport, with what the decode
    // node held already of the shorter probes before it (the prompts share their start).
    const double want = h20.s_kv_bytes(p.bytes) / layout.effective_kv_scale;
    const double sequence = served["kv_bytes"].get<double>() + served["kv_held_bytes"].get<double>();
    CHECK(sequence == Approx(want).epsilon(p.bytes < 1024 ? 0.5 : 0.1));
  }
  // Another prompt of the same length decodes other tokens.
  const json other = parse_ok(d.generate(text_prompt(20001).substr(1), 16));
  CHECK(other["tokens"] != parse_ok(generate_in_process(text_prompt(20000), 16, d.config_path()))["tokens"]);
}

TEST_CASE("an emulated deployment with frames dropped and links reset still returns the fault-free tokens") {
  // Concurrent requests, so prefill nodes batch the jobs that wait (node.prefill_token_budget).
  deployment d(emulated_config("[faults]\nseed = 5\ndrop_frame = 0.01\nreset_link = 0.01\n"));
  temp_dir out;
  std::vector<std::string> prompts;
  std::vector<std::unique_ptr<child>> clients;
  for (int round = 0; round < 3; ++round)
    for (const probe p : kProbes) {
      prompts.push_back(text_prompt(p.bytes + round));
      const std::string file = out.write("prompt-" + std::to_string(prompts.size()), prompts.back());
      clients.push_back(std::make_unique<child>(
          std::vector<std::string>{PRFAAS_CLI, "generate", "--json", "--state", d.state_dir(), "--prompt-file", file,
                                   "--max-tokens", "16"},
          out.path()));
    }
  for (size_t i = 0; i < prompts.size(); ++i) {
    INFO("request " << i << ", prompt of " << prompts[i].size() << " bytes");
    const json served = parse_ok(clients[i]->wait(120000));
    CHECK(served["tokens"] == parse_ok(generate_in_process(prompts[i], 16, d.config_path()))["tokens"]);
  }
}

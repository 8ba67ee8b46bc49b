// The live hybrid prefix cache: prefill nodes reuse what they computed, publish it to the cache
// directory, and the router routes on the uncached length to the node that holds the hit.

#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "tests/support/process.h"

using namespace prfaas::testing;
using json = nlohmann::json;

TEST_CASE("the same long prompt twice: the second reuses at least 90 % of it and answers the same") {
  deployment d("[router]\nthreshold_tokens = 256\n");
  const std::string prompt = text_prompt(3000);
  const json first = parse_ok(d.generate(prompt, 12));
  const json second = parse_ok(d.generate(prompt, 12));
  CHECK(first["cached_tokens"] == 0);
  CHECK(first["uncached_tokens"] == 3000);
  CHECK(first["cache_source"] == "none");
  CHECK(second["path"] == "prfaas");
  CHECK(second["prefill_node"] == first["prefill_node"]);  // the node that holds the hit
  CHECK(second["cached_tokens"].get<int>() >= 2700);
  CHECK(second["uncached_tokens"].get<int>() <= 300);       // computed tokens: a tenth of the work or less
  CHECK(second["cache_source"] == "own");
  CHECK(second["text"] == first["text"]);
  CHECK(second["tokens"] == parse_ok(generate_in_process(prompt, 12, d.config_path()))["tokens"]);
  // The decode node that decoded the first holds its blocks: only the rest of the KV crosses.
  CHECK(second["decode_node"] == first["decode_node"]);
  CHECK(second["decode_cached_tokens"].get<int>() >= 2944);
  CHECK(second["kv_bytes"].get<long>() + second["kv_held_bytes"].get<long>() == first["kv_bytes"].get<long>());
  CHECK(second["kv_bytes"].get<long>() < first["kv_bytes"].get<long>() / 10);

  const json status = parse_ok(run({PRFAAS_CLI, "status", "--json", "--state", d.state_dir()}));
  bool seen = false;
  for (const auto& c : status["caches"])
    if (c["node"] == first["prefill_node"]) {
      seen = true;
      CHECK(c["hits"] == 1);
      CHECK(c["lookups"] == 2);
      CHECK(c["blocks"].get<int>() >= 46);
      CHECK(c["snapshots"].get<int>() >= 1);
      CHECK(c["bytes"].get<long>() > 0);
    }
  CHECK(seen);
}

TEST_CASE("a shared 2,000-token prefix with two suffixes: the second hits the prefix to snapshot granularity") {
  deployment d("[router]\nthreshold_tokens = 4096\n");  // everything local: one prefill node
  const std::string prefix = text_prompt(2000);
  // Suffixes longer than a block: the first prompt's own end snapshot lies past the prefix.
  const std::string a = prefix + "| first question: what is offloaded, and why does the KV cross the link at all? Explain.";
  const std::string b = prefix + "# second question, a different one: how large is the linear state of one layer?";
  parse_ok(d.generate(a, 8));
  const json served = parse_ok(d.generate(b, 8));
  // Snapshots every 4 blocks of 64 tokens: the longest one inside the shared 2,000 tokens.
  CHECK(served["cached_tokens"] == 2000 / 256 * 256);
  CHECK(served["uncached_tokens"] == static_cast<int>(b.size()) - 2000 / 256 * 256);
  CHECK(served["tokens"] == parse_ok(generate_in_process(b, 8, d.config_path()))["tokens"]);
}

TEST_CASE("offload is decided on the uncached length: a long prompt whose prefix is cached locally stays local") {
  deployment d("[router]\nthreshold_tokens = 1024\n");
  const std::string base = text_prompt(1000);
  const json first = parse_ok(d.generate(base, 4));
  CHECK(first["path"] == "local");
  const std::string longer = base + text_prompt(500);
  // 1,500 tokens is above t, but 960 of them are cached on the local prefill node: 540 remain.
  const json served = parse_ok(d.generate(longer, 4));
  CHECK(served["path"] == "local");
  CHECK(served["cached_tokens"] == 960);
  CHECK(served["tokens"] == parse_ok(generate_in_process(longer, 4, d.config_path()))["tokens"]);
  // Without the hit the same length is offloaded.
  const json cold = parse_ok(d.generate("another start. " + text_prompt(1500), 4));
  CHECK(cold["path"] == "prfaas");
}

TEST_CASE("a hit in the other cluster is used only under abundant bandwidth, moved over the data plane") {
  const std::string prompt = text_prompt(3000);
  for (const bool abundant : {false, true}) {
    INFO((abundant ? "abundant" : "scarce") << " bandwidth");
    deployment d(std::string("[router]\nthreshold_tokens = 1024\nbandwidth_abundant = ") + (abundant ? "true" : "false") + "\n");
    const json first = parse_ok(d.generate(prompt, 8));  // 3,000 uncached tokens: PrfaaS
    CHECK(first["path"] == "prfaas");
    const json second = parse_ok(d.generate(prompt, 8));
    if (!abundant) {
      // Scarce: the local cluster caches nothing, so 3,000 tokens count as uncached: PrfaaS again,
      // on the node that holds the hit.
      CHECK(second["path"] == "prfaas");
      CHECK(second["cache_source"] == "own");
    } else {
      // Abundant: the PrfaaS hit counts, 56 tokens remain, the request stays local and the
      // cached prefix crosses to the local prefill node first.
      CHECK(second["path"] == "local");
      CHECK(second["prefill_node"] == "local-prefill-0");
      CHECK(second["cache_source"] == "remote");
    }
    CHECK(second["cached_tokens"] == 2944);
    CHECK(second["uncached_tokens"] == 56);
    CHECK(second["tokens"] == first["tokens"]);
  }
}

TEST_CASE("a conversation's next turn starts from the decode node's cache: pulled to the prefill node, same output") {
  deployment d("[router]\nthreshold_tokens = 4096\n[deployment]\ndecode = 1\n");
  const std::string turn1 = text_prompt(1000);
  const json first = parse_ok(d.generate(turn1, 300));
  // The next prompt repeats the whole first turn, answer included (byte-level tokens).
  std::string turn2 = turn1;
  for (int t : first["tokens"]) turn2.push_back(static_cast<char>(t));
  turn2 += " and then?";
  temp_dir dir;
  const std::string file = dir.write("turn2.txt", turn2);
  const json second = parse_ok(run({PRFAAS_CLI, "generate", "--json", "--state", d.state_dir(), "--prompt-file", file,
                                    "--max-tokens", "8"}, 120000));
  // The prefill node caches 960 tokens of turn 1's prompt; the decode node 1,280 tokens of
  // prompt and answer (a snapshot at each block boundary it decoded past): 320 more, pulled.
  CHECK(second["path"] == "local");
  CHECK(second["cache_source"] == "peer");
  CHECK(second["cached_tokens"] == 1280);
  CHECK(second["uncached_tokens"] == static_cast<int>(turn2.size()) - 1280);
  const json reference = parse_ok(run({PRFAAS_CLI, "generate", "--in-process", "--json", "--config", d.config_path(),
                                       "--prompt-file", file, "--max-tokens", "8"}));
  CHECK(second["tokens"] == reference["tokens"]);
}

TEST_CASE("a conversation's second turn: the decode node that holds the first receives only the new blocks and the linear states") {
  // Default model: 2 full layers of 64 KiB blocks (64 tokens), 6 linear layers of 74,752-byte states.
  constexpr long kBlockBytes = 2 * 65536, kStateBytes = 6 * (65536 + 3 * 768 * 4);
  struct variant {
    const char* config;
    const char* path;
  };
  // Local prefill (the prefix is pulled from the decode node), and PrfaaS prefill across the
  // link (no pulls: the PrfaaS node recomputes what it does not hold, and sends only the rest).
  for (const variant v : {variant{"[router]\nthreshold_tokens = 4096\n[deployment]\ndecode = 2\n", "local"},
                          variant{"[router]\nthreshold_tokens = 256\npull_min_tokens = 0\n[deployment]\ndecode = 2\n", "prfaas"}}) {
    INFO(v.path << " prefill");
    deployment d(v.config);
    const std::string turn1 = text_prompt(1000);
    const json first = parse_ok(d.generate(turn1, 300));
    std::string turn2 = turn1;
    for (int t : first["tokens"]) turn2.push_back(static_cast<char>(t));
    turn2 += " and then?";  // 1,310 tokens: 21 blocks
    temp_dir dir;
    const std::string file = dir.write("turn2.txt", turn2);
    const json second = parse_ok(run({PRFAAS_CLI, "generate", "--json", "--state", d.state_dir(), "--prompt-file", file,
                                      "--max-tokens", "8"}, 120000));
    CHECK(second["path"] == v.path);
    CHECK(second["decode_node"] == first["decode_node"]);
    // The decode node cached 1,299 positions of turn 1 (prompt and answer): 20 whole blocks.
    CHECK(second["decode_cached_tokens"] == 1280);
    const long new_blocks = (1310 + 63) / 64 - 20;
    CHECK(second["kv_bytes"].get<long>() <= new_blocks * kBlockBytes + kStateBytes);
    CHECK(second["kv_bytes"].get<long>() + second["kv_held_bytes"].get<long>() == 21 * kBlockBytes + kStateBytes);
    const json reference = parse_ok(run({PRFAAS_CLI, "generate", "--in-process", "--json", "--config", d.config_path(),
                                         "--prompt-file", file, "--max-tokens", "8"}));
    CHECK(second["tokens"] == reference["tokens"]);
  }
}

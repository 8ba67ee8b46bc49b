// P/D rebalancing in place: a local node changes role between prefill and decode without a
// restart (`prfaas node convert`): the router drains it, its supervisor swaps the role actor,
// and it registers again under its name in the new role.  Nothing in flight is lost and greedy
// output is what a deployment without conversions gives.

#include <catch2/catch.hpp>

#include <chrono>
#include <fstream>
#include <iterator>
#include <thread>

#include "tests/support/process.h"

using namespace prfaas::testing;
using json = nlohmann::json;

namespace {

run_result convert(const deployment& d, const std::string& node, const std::string& to) {
  return run({PRFAAS_CLI, "node", "convert", node, "--to", to, "--state", d.state_dir()}, 120000);
}

}  // namespace

TEST_CASE("a decode node becomes a prefill node and back under load: nothing lost, output unchanged") {
  deployment d;
  temp_dir dir;
  const int n = 48;
  const auto trace = write_trace(dir, n, {120, 700, 250, 1500, 90, 400});
  const std::string reference = dir.path() + "/reference.jsonl", converted = dir.path() + "/converted.jsonl";
  REQUIRE(run(replay_args(d, trace, n, reference, 6), 240000).status == 0);

  child load(replay_args(d, trace, n, converted, 6), dir.path());
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  auto r = convert(d, "decode-1", "prefill");
  INFO(r.out << r.err);
  REQUIRE(r.status == 0);
  CHECK_THAT(r.out, Catch::Contains("decode-1 now serves as a prefill node"));
  // It takes prefill work in its new role, under its own name.
  const json st = parse_ok(run({PRFAAS_CLI, "status", "--json", "--state", d.state_dir()}));
  bool as_prefill = false;
  for (const auto& node : st["nodes"]) as_prefill |= node["name"] == "decode-1" && node["role"] == "prefill";
  CHECK(as_prefill);
  r = convert(d, "decode-1", "decode");
  REQUIRE(r.status == 0);
  const json replayed = parse_ok(load.wait(240000));
  CHECK(replayed["completed"] == n);
  CHECK(replayed["failed"] == 0);
  // Every request completed once, with the reference's tokens.
  const json check = parse_ok(run({PRFAAS_CLI, "check", converted, "--reference", reference, "--json"}));
  CHECK(check["ok"] == true);
  CHECK(parse_ok(run({PRFAAS_CLI, "status", "--json", "--state", d.state_dir()}))["conversions"] == 2);
}

TEST_CASE("conversions the deployment cannot take are refused with the reason") {
  deployment d;
  auto r = convert(d, "prfaas-prefill-0", "decode");
  CHECK(r.status == 1);
  CHECK_THAT(r.err, Catch::Contains("only local prefill and decode nodes convert"));
  r = convert(d, "decode-0", "decode");
  CHECK_THAT(r.err, Catch::Contains("is a decode node already"));
  REQUIRE(convert(d, "decode-0", "prefill").status == 0);
  r = convert(d, "decode-1", "prefill");
  CHECK(r.status == 1);
  CHECK_THAT(r.err, Catch::Contains("the last decode node"));
  r = convert(d, "no-such-node", "prefill");
  CHECK_THAT(r.err, Catch::Contains("no node named no-such-node"));
  CHECK(d.generate("still serving", 2).status == 0);
}

namespace {

// `n` requests of `len` prompt tokens and `out` output tokens, every prompt distinct.
std::string uniform_trace(const temp_dir& dir, const std::string& name, int n, int len, int out, int first_id) {
  std::string trace;
  for (int i = 0; i < n; ++i) {
    std::string ids;
    for (int b = 0; b * 512 < len; ++b) ids += (b ? ", " : "") + std::to_string((first_id + i) * 10 + b);
    trace += "{\"timestamp\": " + std::to_string(i) + ", \"input_length\": " + std::to_string(len) +
             ", \"output_length\": " + std::to_string(out) + ", \"hash_ids\": [" + ids + "]}\n";
  }
  return dir.write(name, trace);
}

}  // namespace

TEST_CASE("a shift from short-heavy to long-heavy load makes the live rebalancer turn a decode node into prefill") {
  // Everything stays in the local PD cluster: one prefill node, two decode nodes.
  const std::string layout = "[router]\nthreshold_tokens = 100000\n[deployment]\nprfaas_prefill = 1\nlocal_prefill = 1\n";
  temp_dir dir;
  const auto shorts = uniform_trace(dir, "short.jsonl", 24, 30, 160, 0);
  const auto longs = uniform_trace(dir, "long.jsonl", 30, 1500, 2, 1000);
  const std::string reference = dir.path() + "/reference.jsonl", rebalanced = dir.path() + "/rebalanced.jsonl";
  {
    deployment plain(layout);
    REQUIRE(run(replay_args(plain, longs, 30, reference, 6), 240000).status == 0);
  }
  deployment d("[router]\nthreshold_tokens = 100000\nrebalancer = true\nrebalance_period_ms = 2000\n"
               "[deployment]\nprfaas_prefill = 1\nlocal_prefill = 1\n");
  auto short_args = replay_args(d, shorts, 24, dir.path() + "/short-outcomes.jsonl", 6);
  short_args[short_args.size() - 4] = "160";  // the value of --max-tokens
  const json first = parse_ok(run(short_args, 240000));
  CHECK(first["completed"] == 24);
  // Short prompts with long answers keep decode busy and prefill light: nothing to convert.
  CHECK(parse_ok(run({PRFAAS_CLI, "status", "--json", "--state", d.state_dir()}))["conversions"] == 0);
  const json second = parse_ok(run(replay_args(d, longs, 30, rebalanced, 6), 240000));
  CHECK(second["completed"] == 30);
  CHECK(second["failed"] == 0);
  const json st = parse_ok(run({PRFAAS_CLI, "status", "--json", "--state", d.state_dir()}));
  CHECK(st["conversions"].get<int>() >= 1);
  int local_prefill = 0;
  for (const auto& node : st["nodes"]) local_prefill += node["role"] == "prefill" && node["cluster"] == "local";
  CHECK(local_prefill >= 2);
  std::ifstream log(d.state_dir() + "/logs/router.log");
  const std::string text((std::istreambuf_iterator<char>(log)), {});
  CHECK_THAT(text, Catch::Contains("rebalancer: local prefill") && Catch::Contains("becomes a prefill node"));
  // Greedy output as without any conversion.
  CHECK(parse_ok(run({PRFAAS_CLI, "check", rebalanced, "--reference", reference, "--json"}))["ok"] == true);
}

// Two clusters on one machine with an emulated 1 Gbps link between them: the router reads and
// reports the PrfaaS egress while long prompts are offloaded.

#include <catch2/catch.hpp>

#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>

#include "tests/support/process.h"

using namespace prfaas::testing;
using json = nlohmann::json;

TEST_CASE("with an emulated 1 Gbps link the router logs the egress utilisation of offloaded prefills") {
  deployment d("[router]\nthreshold_tokens = 512\n[transport]\nlink_gbps = 1.0\nemulate_link = true\nlink_delay_ms = 5\n");
  const auto r = d.generate(text_prompt(3000), 4);
  INFO("stderr: " << r.err);
  REQUIRE(r.status == 0);
  CHECK(json::parse(r.out)["path"] == "prfaas");

  const auto st = run({PRFAAS_CLI, "status", "--json", "--state", d.state_dir()});
  REQUIRE(st.status == 0);
  const auto s = json::parse(st.out);
  CHECK(s["link_gbps"] == 1.0);
  bool prfaas_link_seen = false;
  for (const auto& l : s["links"])
    if (l["prfaas"] == true && l["links"] == 1) {
      prfaas_link_seen = true;
      CHECK(l["connections"] == 4);
      CHECK(l["capacity_gbps"] == 1.0);      // the PrfaaS nodes draw on the one link, not on a static half
      CHECK(l["rtt_us"].get<int>() > 0);       // TCP_INFO of its connections is read
    }
  CHECK(prfaas_link_seen);

  std::ifstream log(d.state_dir() + "/logs/router.log");
  std::stringstream text;
  text << log.rdbuf();
  std::smatch m;
  const std::string all = text.str();
  const std::regex line(R"(PrfaaS egress ([0-9.]+) Gbps of 1\.000 Gbps link \(([0-9.]+) % utilised\))");
  double best = 0;
  for (auto it = std::sregex_iterator(all.begin(), all.end(), line); it != std::sregex_iterator(); ++it)
    best = std::max(best, std::stod((*it)[2]));
  INFO(all);
  CHECK(best > 0);
  CHECK(best <= 100.0 * 1.1);  // paced: never far above the link
}

TEST_CASE("with two PrfaaS nodes and one request in flight, its KV crosses at the whole emulated link's rate") {
  // 10 Mbps: the tiny model's 3,000-token prefill (about 6.5 MB of KV) takes seconds on the link.
  const double gbps = 0.01;
  deployment d("[router]\nthreshold_tokens = 512\n[transport]\nlink_gbps = 0.01\nemulate_link = true\n");
  const auto r = d.generate(text_prompt(3000), 2);
  INFO("stderr: " << r.err);
  REQUIRE(r.status == 0);
  const json j = json::parse(r.out);
  REQUIRE(j["path"] == "prfaas");
  // From the first layer posted to the last byte confirmed, as the link counted them.
  const json ph = j["timeline"]["phases_ms"];
  const double seconds = (ph["last_kv_sent_ms"].get<double>() - ph["first_kv_sent_ms"].get<double>()) / 1000;
  const double achieved = j["kv_bytes"].get<double>() * 8 / seconds / 1e9;
  INFO("KV " << j["kv_bytes"] << " bytes in " << seconds << " s: " << achieved << " Gbps of a " << gbps << " Gbps link");
  CHECK(achieved > 0.75 * gbps);  // an even static split would cap it at half
  CHECK(achieved < 1.1 * gbps);   // and the link still holds
}

namespace {

// A trace of `n` requests whose prompts span both sides of t, every one with blocks of its own
// (no prefix-cache hits: routing sees the whole prompt).
std::string spread_trace(const temp_dir& dir, int n, int first_id) {
  static const std::vector<int> lengths = {150, 400, 700, 1100, 1600, 2200};
  std::string trace;
  for (int i = 0; i < n; ++i) {
    const int len = lengths[i % lengths.size()];
    std::string ids;
    for (int b = 0; b * 512 < len; ++b) ids += (b ? ", " : "") + std::to_string((first_id + i) * 10 + b);
    trace += "{\"timestamp\": " + std::to_string(i) + ", \"input_length\": " + std::to_string(len) +
             ", \"output_length\": 4, \"hash_ids\": [" + ids + "]}\n";
  }
  return dir.write("trace-" + std::to_string(first_id) + ".jsonl", trace);
}

json replay(const deployment& d, const std::string& trace, int n) {
  return parse_ok(run({PRFAAS_CLI, "replay", "--state", d.state_dir(), "--trace", trace, "--scale-tokens", "1",
                       "--requests", std::to_string(n), "--concurrency", "8", "--max-tokens", "4", "--json"},
                      240000));
}

std::vector<std::pair<int, int>> threshold_moves(const deployment& d) {
  std::ifstream log(d.state_dir() + "/logs/router.log");
  std::stringstream text;
  text << log.rdbuf();
  const std::string s = text.str();
  static const std::regex re("threshold t ([0-9]+) -> ([0-9]+) tokens");
  std::vector<std::pair<int, int>> out;
  for (auto it = std::sregex_iterator(s.begin(), s.end(), re); it != std::sregex_iterator(); ++it)
    out.emplace_back(std::stoi((*it)[1]), std::stoi((*it)[2]));
  return out;
}

}  // namespace

TEST_CASE("under a bandwidth collapse the live controller raises t and offloads less, every request completed") {
  // The tiny model's PrfaaS egress peaks near 0.05 Gbps on this machine: 0.5 Gbps is plenty,
  // 0.04 Gbps is congested, 0.01 Gbps far too little.
  deployment d(std::string("[router]\nthreshold_tokens = 600\ncontroller = true\ncontroller_period_ms = 500\n") +
               "profile_prfaas = \"" PRFAAS_SOURCE_DIR "/profiles/tiny-cpu.toml\"\n"
               "profile_pd = \"" PRFAAS_SOURCE_DIR "/profiles/tiny-cpu.toml\"\noutput_tokens = 4\n"
               "[transport]\nlink_gbps = 0.5\nemulate_link = true\n");
  temp_dir dir;
  const int n = 72;
  const json before = replay(d, spread_trace(dir, n, 0), n);
  CHECK(before["completed"] == n);
  const auto moves_before = threshold_moves(d).size();
  // The link collapses in two steps, with traffic on it at each.
  REQUIRE(run({PRFAAS_CLI, "link", "set", "--gbps", "0.04", "--state", d.state_dir()}).status == 0);
  const json during = replay(d, spread_trace(dir, n, 1000), n);
  REQUIRE(run({PRFAAS_CLI, "link", "set", "--gbps", "0.01", "--state", d.state_dir()}).status == 0);
  const json after = replay(d, spread_trace(dir, n, 2000), n);
  CHECK(during["completed"] == n);
  CHECK(after["completed"] == n);
  const auto moves = threshold_moves(d);
  int raised = 0;
  for (size_t i = moves_before; i < moves.size(); ++i) raised += moves[i].second > moves[i].first;
  INFO("moves: " << moves.size() << " (" << moves_before << " before the collapse); offload before "
                 << before["offload_fraction"] << ", after " << after["offload_fraction"]);
  CHECK(raised >= 2);
  CHECK(after["offload_fraction"].get<double>() < before["offload_fraction"].get<double>());
  const json st = parse_ok(run({PRFAAS_CLI, "status", "--json", "--state", d.state_dir()}));
  CHECK(st["threshold_moves"].get<int>() == static_cast<int>(moves.size()));
  CHECK(st["link_gbps"] == 0.01);
}

TEST_CASE("after a link rate change then restore, status and the metrics show the restored capacity at once") {
  deployment d("[transport]\nlink_gbps = 1.0\nemulate_link = true\n");
  auto capacity = [&] { return parse_ok(run({PRFAAS_CLI, "status", "--json", "--state", d.state_dir()}))["link_gbps"].get<double>(); };
  auto metric = [&] {
    const auto m = run({PRFAAS_CLI, "metrics", "--state", d.state_dir()});
    const auto at = m.out.find("\nprfaas_link_capacity_bytes_per_second ");
    REQUIRE(at != std::string::npos);
    return std::stod(m.out.substr(at + 39));
  };
  CHECK(capacity() == 1.0);
  REQUIRE(run({PRFAAS_CLI, "chaos", "link", "rate", "--gbps", "0.1", "--state", d.state_dir()}).status == 0);
  CHECK(capacity() == Approx(0.1));
  CHECK(metric() == Approx(0.1e9 / 8));
  REQUIRE(run({PRFAAS_CLI, "chaos", "link", "restore", "--state", d.state_dir()}).status == 0);
  CHECK(capacity() == 1.0);
  CHECK(metric() == Approx(1e9 / 8));
}

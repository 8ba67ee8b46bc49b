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
      CHECK(l["capacity_gbps"] == 0.5);      // two PrfaaS nodes share the 1 Gbps link
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

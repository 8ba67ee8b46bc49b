// A deployment across three hosts: a router host, a PrfaaS host and a local host, each a
// network namespace (netem::host_network), the PrfaaS host's link to the others shaped by tc tbf
// and made lossy by iptables.  Each host runs `prfaas up --host NAME` with the same config, as
// each machine of a real deployment would.  Root only: without it the executable reports skipped
// (exit 77), never passed.

#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include <algorithm>
#include <filesystem>
#include <future>
#include <iostream>
#include <string>

#include "runtime/netem/hosts.h"
#include "tests/support/process.h"
#include "tests/support/skip_main.h"

using namespace prfaas;
using namespace prfaas::testing;
namespace fs = std::filesystem;

namespace {

constexpr double kShapedGbps = 0.2;  // slow enough that a few KV transfers fill it for a while
constexpr double kLoss = 0.001;

std::string config_for(const netem::host_network& net) {
  return "[hosts]\n"
         "core = \"" + net.address("core") + "\"\n"
         "prfaas = \"" + net.address("prfaas") + "\"\n"
         "local = \"" + net.address("local") + "\"\n"
         "[deployment]\n"
         "router_host = \"core\"\nprfaas_host = \"prfaas\"\nlocal_host = \"local\"\n"
         "router_port = 7411\nprfaas_prefill = 1\nlocal_prefill = 1\ndecode = 1\n"
         "[transport]\n"
         "link_gbps = " + std::to_string(kShapedGbps) + "\n";
}

}  // namespace

TEST_CASE("three hosts: long prompts cross the shaped, lossy link and short ones stay local, byte-identical to in-process") {
  netem::host_network net({.name = "prfaas-mh",
                           .subnet = 79,
                           .hub = "core",
                           .hosts = {{"prfaas", {.gbps = kShapedGbps, .loss = kLoss}}, {"local", {}}}});
  temp_dir dir;
  const std::string config = dir.write("deployment.toml", config_for(net));
  // The router's host first: it makes the CA, every node's certificate and the KV secret; the
  // other hosts get a copy of them, as another machine would.
  host_deployment core(net.ns("core"), "core", config, dir.path() + "/core");
  for (const char* host : {"prfaas", "local"}) {
    fs::create_directories(dir.path() + "/" + host);
    fs::copy(dir.path() + "/core/pki", dir.path() + "/" + host + "/pki", fs::copy_options::recursive);
    fs::copy_file(dir.path() + "/core/secret", dir.path() + "/" + host + "/secret");
  }
  host_deployment prfaas(net.ns("prfaas"), "prfaas", config, dir.path() + "/prfaas");
  host_deployment local(net.ns("local"), "local", config, dir.path() + "/local");

  const auto status = parse_ok(core.cli({"status", "--json"}));
  std::map<std::string, std::string> endpoints;
  for (const auto& n : status.at("nodes")) endpoints[n.at("name")] = n.value("data_endpoint", "");
  // Each node advertises its own host's address.
  CHECK(endpoints.at("prfaas-prefill-0").rfind(net.address("prfaas") + ":", 0) == 0);
  CHECK(endpoints.at("decode-0").rfind(net.address("local") + ":", 0) == 0);

  for (const int bytes : {3000, 200}) {
    const std::string prompt = text_prompt(bytes);
    const auto reference = parse_ok(generate_in_process(prompt, 8));
    const auto served = parse_ok(core.cli({"generate", "--json", "--prompt", prompt, "--max-tokens", "8"}));
    INFO(bytes << "-byte prompt: " << served.dump());
    CHECK(served.at("tokens") == reference.at("tokens"));
    CHECK(served.at("text") == reference.at("text"));
    CHECK(served.at("path") == (bytes > 1024 ? "prfaas" : "local"));
  }

  // Several long prompts at once keep the shaped link busy for seconds: the PrfaaS egress the
  // router reports while it is busy (the median of its samples: the first fills socket buffers
  // faster than the link) is the shaped rate.
  std::vector<std::future<run_result>> load;
  for (int i = 0; i < 8; ++i)
    load.push_back(std::async(std::launch::async, [&, i] {
      return core.cli({"generate", "--json", "--prompt", text_prompt(3000 + 100 * i), "--max-tokens", "4"});
    }));
  std::vector<double> busy;
  double link_gbps = 0;
  for (int i = 0; i < 100; ++i) {
    const auto s = parse_ok(core.cli({"status", "--json"}));
    if (s.value("in_flight", 0) > 0 && s.value("prfaas_egress_gbps", 0.0) > 0) busy.push_back(s.value("prfaas_egress_gbps", 0.0));
    link_gbps = s.value("link_gbps", 0.0);
    if (std::all_of(load.begin(), load.end(),
                    [](auto& f) { return f.wait_for(std::chrono::seconds(0)) == std::future_status::ready; }))
      break;
  }
  for (auto& f : load) CHECK(parse_ok(f.get()).at("path") == "prfaas");
  REQUIRE(busy.size() >= 3);
  std::sort(busy.begin(), busy.end());
  const double median = busy[busy.size() / 2];
  std::string seen;
  for (double g : busy) seen += std::to_string(g) + " ";
  INFO("PrfaaS egress while busy (Gbps): " << seen << "; median " << median << ", shaped " << kShapedGbps);
  CHECK(link_gbps == Approx(kShapedGbps));
  CHECK(median > 0.7 * kShapedGbps);
  CHECK(median < 1.1 * kShapedGbps);
}

int main(int argc, char** argv) {
  return prfaas::testing::run_or_skip(argc, argv, [] {
    const auto why = netem::host_network::unavailable();
    return why.empty() ? why : "the host network " + why;
  });
}

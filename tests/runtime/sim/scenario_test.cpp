// Scenario files: a value of the wrong type is an error naming the key and its line, never the
// default in silence.

#include <catch2/catch.hpp>

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include "runtime/common/errc.h"
#include "runtime/sim/scenario.h"

using namespace prfaas;

namespace {

// The case study with one line replaced, its profiles named by absolute path, in a temp file.
std::string error_of(const std::string& from, const std::string& to) {
  std::ifstream in(PRFAAS_SOURCE_DIR "/scenarios/paper-case-study.toml");
  std::stringstream text;
  text << in.rdbuf();
  const std::string original =
      std::regex_replace(text.str(), std::regex("\\.\\./profiles/"), PRFAAS_SOURCE_DIR "/profiles/");
  const std::string changed = std::regex_replace(original, std::regex(from), to);
  REQUIRE(changed != original);
  // One file per process: ctest runs this file's test cases in parallel processes.
  const std::string path = std::filesystem::temp_directory_path() / (std::to_string(::getpid()) + ".scenario-test.toml");
  std::ofstream(path) << changed;
  std::string error;
  try {
    sim::load_scenario(path);
  } catch (const failure& f) {
    CHECK(f.code() == errc::bad_config);
    error = f.what();
  }
  std::remove(path.c_str());
  return error;
}

}  // namespace

TEST_CASE("a scenario value of the wrong type names the key and its line") {
  const auto e = error_of("instances = 4", "instances = \"four\"");
  CHECK_THAT(e, Catch::Contains(".scenario-test.toml:5:"));
  CHECK_THAT(e, Catch::Contains("prfaas.instances must be a non-negative integer"));
  CHECK_THAT(error_of("instances = 8", "instances = -3"), Catch::Contains("pd.instances must be a non-negative integer"));
  CHECK_THAT(error_of("instances = 8", "instances = 100001"), Catch::Contains("must be 0..100000"));
  CHECK(error_of("instances = 4", "instances = 5").empty());
}

TEST_CASE("unknown keys, NaN and sizes that would exhaust memory or time are refused by name") {
  CHECK_THAT(error_of("gbps = 100", "gbps = 100\nbandwith = 3"), Catch::Contains("unknown key link.bandwith"));
  CHECK_THAT(error_of("gbps = 100", "gbps = nan"), Catch::Contains("link.gbps must be a number in"));
  CHECK_THAT(error_of("gbps = 100", "gbps = inf"), Catch::Contains("link.gbps must be a number in"));
  CHECK_THAT(error_of("requests = 20000", "requests = 2000000000"), Catch::Contains("sim.requests must be a number in"));
  CHECK_THAT(error_of("requests = 20000", "requests = 2e9"), Catch::Contains("sim.requests"));
  CHECK_THAT(error_of("arrival = \"poisson\"", "arrival = \"onoff\"\non_s = 0.0\noff_s = 0.0"),
             Catch::Contains("workload.on_s must be a number in"));
  CHECK_THAT(error_of("requests = 20000", "requests = 20000\nsample_period_s = 1e-6"),
             Catch::Contains("sim.sample_period_s must be a number in"));
  CHECK_THAT(error_of("sigma = 1.00", "sigma = -1.0"), Catch::Contains("workload.sigma"));
}

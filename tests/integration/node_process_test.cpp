// How a node process runs its compute threads on a shared host.

#include <catch2/catch.hpp>

#include <fstream>
#include <sstream>

#include "tests/support/process.h"

using namespace prfaas::testing;

namespace {

std::string environ_of(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/environ", std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  std::string env = text.str();
  for (auto& c : env)
    if (c == '\0') c = '\n';
  return env;
}

}  // namespace

TEST_CASE("a node's OpenMP threads follow node.threads and block instead of spinning when idle") {
  deployment d("[node]\nthreads = 1\n");
  const std::string env = environ_of(d.pid_of("local-prefill-0"));
  CHECK_THAT(env, Catch::Contains("OMP_NUM_THREADS=1\n"));
  CHECK_THAT(env, Catch::Contains("OMP_WAIT_POLICY=passive\n"));
  CHECK(parse_ok(d.generate(text_prompt(200), 4))["path"] == "local");
}

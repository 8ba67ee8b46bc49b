// How a node process runs its compute threads on a shared host.

#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>
#include <signal.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>

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

TEST_CASE("with --log-format json a node writes one JSON object a line: time, node, level, message") {
  temp_dir dir;
  child node({PRFAAS_NODE, "--role=gateway", "--cluster=local", "--listen=127.0.0.1:0", "--router=127.0.0.1:1",
              "--insecure", "--log-format", "json", "--port-file", dir.path() + "/port"},
             dir.path());
  for (int waited = 0; waited < 10000 && !std::ifstream(dir.path() + "/port"); waited += 50)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  ::kill(node.pid(), SIGTERM);
  const auto r = node.wait(10000);
  CHECK(r.status == 0);
  std::istringstream lines(r.out + r.err);
  int parsed = 0;
  bool serving = false;
  for (std::string line; std::getline(lines, line);) {
    if (line.empty()) continue;
    INFO(line);
    const auto j = nlohmann::json::parse(line, nullptr, false);
    REQUIRE_FALSE(j.is_discarded());
    CHECK(j["node"].get<std::string>().rfind("gateway-", 0) == 0);
    CHECK(j.contains("time"));
    CHECK(j.contains("level"));
    serving = serving || j["message"].get<std::string>().find("gateway: serving") != std::string::npos;
    ++parsed;
  }
  CHECK(parsed >= 2);
  CHECK(serving);
  CHECK(run({PRFAAS_NODE, "--role=gateway", "--cluster=local", "--listen=127.0.0.1:0", "--router=127.0.0.1:1",
             "--insecure", "--log-format", "xml"}).status == 2);
}

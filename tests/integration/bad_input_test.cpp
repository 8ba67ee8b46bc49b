// Bad input gets a clear message and a non-zero exit, never a crash or a hang.

#include <catch2/catch.hpp>

#include <sys/stat.h>

#include "runtime/transport/socket.h"
#include "tests/support/process.h"

using namespace prfaas;
using namespace prfaas::testing;

namespace {
// A port nobody listens on: bound once, then released.
uint16_t closed_port() {
  auto s = transport::listen_tcp({"127.0.0.1", 0});
  return transport::local_port(s);
}
}  // namespace

TEST_CASE("an unknown role is refused by name") {
  const auto r = run({PRFAAS_NODE, "--role=decoder", "--cluster=local", "--listen=127.0.0.1:0", "--router=127.0.0.1:1"});
  CHECK(r.status == 2);
  CHECK_THAT(r.err, Catch::Contains("unknown role 'decoder'"));
}

TEST_CASE("an unknown flag is refused by name") {
  auto r = run({PRFAAS_NODE, "--role=decode", "--cluster=local", "--listen=127.0.0.1:0", "--frobnicate=1"});
  CHECK(r.status != 0);
  CHECK_THAT(r.err, Catch::Contains("frobnicate"));
  r = run({PRFAAS_CLI, "generate", "--prompt", "x", "--max-tokens", "1", "--colour"});
  CHECK(r.status != 0);
  CHECK_THAT(r.err, Catch::Contains("colour"));
}

TEST_CASE("a listen port in use is reported with the address") {
  auto taken = transport::listen_tcp({"127.0.0.1", 0});
  const std::string addr = "127.0.0.1:" + std::to_string(transport::local_port(taken));
  const auto r = run({PRFAAS_NODE, "--role=router", "--cluster=local", "--listen=" + addr, "--insecure"}, 30000);
  CHECK(r.status == 1);
  CHECK_THAT(r.err, Catch::Contains("cannot listen on " + addr));
}

TEST_CASE("an unreachable router is retried a bounded number of times, then reported") {
  const std::string addr = "127.0.0.1:" + std::to_string(closed_port());
  auto r = run({PRFAAS_NODE, "--role=prefill", "--cluster=local", "--listen=127.0.0.1:0", "--router=" + addr, "--insecure"},
               30000);
  CHECK(r.status == 1);
  CHECK_THAT(r.err, Catch::Contains("cannot reach the router at " + addr + " after 10 attempts"));
  CHECK(r.seconds < 15);
  r = run({PRFAAS_CLI, "generate", "--router", addr, "--insecure", "--prompt", "hi", "--max-tokens", "2"}, 30000);
  CHECK(r.status == 1);
  CHECK_THAT(r.err, Catch::Contains("cannot reach the router at " + addr));
}

TEST_CASE("a prompt longer than the model's context is refused, served or in process") {
  const std::string prompt = text_prompt(4090);
  auto r = generate_in_process(prompt, 10);
  CHECK(r.status == 1);
  CHECK_THAT(r.err, Catch::Contains("prompt_too_long") && Catch::Contains("context of 4096"));
  deployment d;
  r = d.generate(prompt, 10);
  CHECK(r.status == 1);
  CHECK_THAT(r.err, Catch::Contains("prompt_too_long") && Catch::Contains("context of 4096"));
  CHECK(d.generate("still serving", 2).status == 0);
}

TEST_CASE("a node whose model differs from the router's is refused when it registers") {
  deployment d;
  temp_dir dir;
  const auto other = dir.write("other.toml", "[model]\nseed = 7\n");
  // A genuine member of the deployment (`prfaas certs`), with the wrong model.
  REQUIRE(run({PRFAAS_CLI, "certs", "--state", d.state_dir(), "--name", "intruder", "--role", "decode", "--out",
               dir.path() + "/certs"}).status == 0);
  const auto r = run({PRFAAS_NODE, "--role=decode", "--cluster=local", "--listen=127.0.0.1:0", "--router=" + d.router(),
                      "--config=" + other, "--ca=" + dir.path() + "/certs/ca.pem",
                      "--cert=" + dir.path() + "/certs/intruder.pem", "--key=" + dir.path() + "/certs/intruder.key"},
                     30000);
  CHECK(r.status == 1);
  CHECK_THAT(r.err, Catch::Contains("refused registration") && Catch::Contains("model_mismatch") &&
                        Catch::Contains("seed=7"));
  CHECK(d.generate("still serving", 2).status == 0);
}

TEST_CASE("a malformed config file is reported with its line, by prfaas up and by a node") {
  temp_dir dir;
  const auto bad = dir.write("bad.toml", "[router]\nthreshold_tokens = 100\nthreshold_tokens = = 5\n");
  auto r = run({PRFAAS_CLI, "up", "--config", bad, "--state", dir.path() + "/state"}, 30000);
  CHECK(r.status == 1);
  CHECK_THAT(r.err, Catch::Contains(bad + ":3:"));
  r = run({PRFAAS_NODE, "--role=router", "--cluster=local", "--listen=127.0.0.1:0", "--config=" + bad});
  CHECK(r.status == 2);
  CHECK_THAT(r.err, Catch::Contains(bad + ":3:"));
  const auto typo = dir.write("typo.toml", "[node]\nkv_block = 10\n");
  r = run({PRFAAS_CLI, "demo", "--config", typo}, 30000);
  CHECK(r.status == 1);
  CHECK_THAT(r.err, Catch::Contains(typo + ":2:") && Catch::Contains("kv_block"));
}

TEST_CASE("usage errors exit 2 whatever the kind, help exits 0") {
  // An option out of its range, a missing required option, an unknown flag.
  auto r = run({PRFAAS_CLI, "generate", "--prompt", "x", "--max-tokens", "1", "--deadline-ms", "2147483647"});
  CHECK(r.status == 2);
  CHECK_THAT(r.err, Catch::Contains("deadline-ms"));
  r = run({PRFAAS_CLI, "generate", "--prompt", "x"});
  CHECK(r.status == 2);
  CHECK_THAT(r.err, Catch::Contains("max-tokens"));
  r = run({PRFAAS_NODE, "--role=decode", "--cluster=local", "--listen=127.0.0.1:0", "--frobnicate=1"});
  CHECK(r.status == 2);
  CHECK(run({PRFAAS_CLI, "--help"}).status == 0);
  // --version says which prfaas this is, and is no error.
  for (const char* bin : {PRFAAS_CLI, PRFAAS_NODE}) {
    const auto v = run({bin, "--version"});
    CHECK(v.status == 0);
    CHECK_THAT(v.out, Catch::Contains("prfaas") && Catch::Contains("0.1"));
  }
}

TEST_CASE("the deployment secret is created readable by its owner only") {
  deployment d;
  struct stat st {};
  REQUIRE(::stat((d.state_dir() + "/secret").c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
}

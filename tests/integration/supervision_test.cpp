// Supervision across a host: `prfaas up` restarts a node process that dies, and no worker exits
// because it lost the router: it reconnects and registers again, and serving resumes.

#include <catch2/catch.hpp>
#include <signal.h>

#include <nlohmann/json.hpp>
#include <thread>

#include "tests/support/process.h"

using namespace prfaas::testing;
using json = nlohmann::json;

namespace {

const char* kConfig = "[router]\nthreshold_tokens = 256\n";

// Seconds until a request of `bytes` succeeds again (retried every 100 ms), or -1 after `limit_s`.
double seconds_until_served(const deployment& d, int bytes, const std::string& path, double limit_s) {
  const double start = now_seconds();
  while (now_seconds() - start < limit_s) {
    const auto r = run({PRFAAS_CLI, "generate", "--json", "--state", d.state_dir(), "--prompt", text_prompt(bytes),
                        "--max-tokens", "4"},
                       20000);
    if (r.status == 0 && json::parse(r.out)["path"] == path) return now_seconds() - start;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return -1;
}

// True once `prfaas status` lists a registered node of `role` (within `limit_s`).
bool registered_again(const deployment& d, const std::string& role, double limit_s) {
  const double start = now_seconds();
  while (now_seconds() - start < limit_s) {
    const auto r = run({PRFAAS_CLI, "status", "--json", "--state", d.state_dir()}, 20000);
    if (r.status == 0) {
      const json st = json::parse(r.out);
      for (const auto& n : st["nodes"])
        if (n["role"] == role) return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
  return false;
}

}  // namespace

TEST_CASE("the router killed: prfaas up restarts it on its port, workers stay up and re-register, serving resumes") {
  deployment d(kConfig);
  const std::vector<std::string> workers = {"cache-directory", "prfaas-prefill-0", "prfaas-prefill-1",
                                            "local-prefill-0", "decode-0", "decode-1"};
  std::map<std::string, pid_t> before;
  for (const auto& w : workers) before[w] = d.pid_of(w);
  const pid_t router = d.pid_of("router");
  REQUIRE(::kill(router, SIGKILL) == 0);
  const double local_s = seconds_until_served(d, 120, "local", 15);
  INFO("served locally again after " << local_s << " s");
  CHECK(local_s >= 0);
  CHECK(local_s < 5);
  CHECK(seconds_until_served(d, 900, "prfaas", 10) >= 0);
  CHECK(d.pid_of("router") != router);
  CHECK(registered_again(d, "cache-directory", 10));  // the directory too, not only the workers
  for (const auto& w : workers) {
    INFO(w);
    CHECK(d.pid_of(w) == before[w]);  // never exited
    CHECK(::kill(before[w], 0) == 0);
  }
}

TEST_CASE("a decode node killed: prfaas up restarts it and it serves again under its name") {
  deployment d("[router]\nthreshold_tokens = 256\n[deployment]\ndecode = 1\n");
  const pid_t decode = d.pid_of("decode-0");
  REQUIRE(::kill(decode, SIGKILL) == 0);
  const double s = seconds_until_served(d, 120, "local", 15);
  INFO("served again after " << s << " s");
  CHECK(s >= 0);
  CHECK(s < 5);
  CHECK(d.pid_of("decode-0") != decode);
  const auto st = parse_ok(run({PRFAAS_CLI, "status", "--json", "--state", d.state_dir()}));
  int decodes = 0;
  for (const auto& n : st["nodes"]) decodes += n["name"] == "decode-0";
  CHECK(decodes == 1);
}

TEST_CASE("a client whose router dies mid-request retries it under the same id and gets the fault-free output") {
  deployment d(kConfig);
  temp_dir out;
  const std::string prompt = text_prompt(150);
  child client({PRFAAS_CLI, "generate", "--json", "--state", d.state_dir(), "--prompt", prompt, "--max-tokens", "600"},
               out.path());
  REQUIRE(wait_for_log(d, "decode-0", "decoding from"));  // mid-request: decoding
  REQUIRE(::kill(d.pid_of("router"), SIGKILL) == 0);
  const json served = parse_ok(client.wait(60000));
  CHECK(served["tokens"] == parse_ok(generate_in_process(prompt, 600, d.config_path()))["tokens"]);
}

TEST_CASE("SIGTERM drains a decode node: it finishes what it holds, takes nothing new, leaves and stays down") {
  deployment d(kConfig);
  temp_dir out;
  const std::string prompt = text_prompt(100);
  // decode-0 (least loaded, first by name) takes a request of a few seconds.
  child first({PRFAAS_CLI, "generate", "--json", "--state", d.state_dir(), "--prompt", prompt, "--max-tokens", "1200"},
              out.path());
  REQUIRE(wait_for_log(d, "decode-0", "decoding from"));
  const pid_t decode0 = d.pid_of("decode-0");
  REQUIRE(::kill(decode0, SIGTERM) == 0);
  REQUIRE(wait_for_log(d, "router", "decode-0 is draining"));
  const json during = parse_ok(d.generate(text_prompt(120), 4));
  CHECK(during["decode_node"] == "decode-1");  // nothing new for a draining node
  const json served = parse_ok(first.wait(60000));
  CHECK(served["decode_node"] == "decode-0");  // finished where it was, not re-dispatched
  CHECK(served["tokens"] == parse_ok(generate_in_process(prompt, 1200, d.config_path()))["tokens"]);
  // It leaves once it holds nothing, and `prfaas up` leaves it down.
  bool gone = false;
  for (int waited = 0; waited < 5000 && !gone; waited += 100) {
    gone = ::kill(decode0, 0) != 0;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  CHECK(gone);
  std::this_thread::sleep_for(std::chrono::milliseconds(1000));
  CHECK(d.pid_of("decode-0") == -1);
  CHECK(parse_ok(d.generate(text_prompt(130), 4))["decode_node"] == "decode-1");
}

TEST_CASE("a second prfaas up on the same state directory is refused by its lock and the first keeps serving") {
  deployment d;
  const auto second = run({PRFAAS_CLI, "up", "--state", d.state_dir()}, 30000);
  CHECK(second.status != 0);
  CHECK_THAT(second.err, Catch::Contains("another `prfaas up` holds") && Catch::Contains("up.lock"));
  CHECK(d.generate("still serving", 2).status == 0);
}

TEST_CASE("the gateway killed: prfaas up restarts it on the port it had, which status and deployment.json still name") {
  deployment d("[router]\nthreshold_tokens = 100000\n");
  const std::string at = d.gateway();  // a port the gateway took itself (gateway.port = 0)
  REQUIRE_FALSE(at.empty());
  const pid_t gateway = d.pid_of("gateway");
  auto models = [&] { return run({"curl", "-sS", "--max-time", "5", "http://" + at + "/v1/models"}, 10000); };
  REQUIRE(models().status == 0);
  REQUIRE(::kill(gateway, SIGKILL) == 0);
  bool back = false;
  for (int waited = 0; waited < 20000 && !back; waited += 250) {
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
    back = d.pid_of("gateway") != gateway && models().status == 0;
  }
  CHECK(back);
  const json st = parse_ok(run({PRFAAS_CLI, "status", "--json", "--state", d.state_dir()}));
  CHECK(st["gateway"] == "http://" + at + "/v1");
  const auto reply = run({"curl", "-sS", "http://" + at + "/v1/completions", "-H", "Content-Type: application/json", "-d",
                          R"({"model":"prfaas-tiny","prompt":"back","max_tokens":3})"}, 30000);
  CHECK_THAT(reply.out, Catch::Contains("\"text_completion\""));
}

TEST_CASE("the router stalled for longer than a registration waits: every node, the cache directory too, registers again") {
  deployment d(kConfig);
  const pid_t router = d.pid_of("router");
  REQUIRE(::kill(router, SIGSTOP) == 0);
  std::this_thread::sleep_for(std::chrono::seconds(7));
  REQUIRE(::kill(router, SIGCONT) == 0);
  CHECK(seconds_until_served(d, 120, "local", 20) >= 0);
  CHECK(seconds_until_served(d, 900, "prfaas", 20) >= 0);
  CHECK(registered_again(d, "cache-directory", 15));
  CHECK(d.pid_of("router") == router);
  // A repeated prompt is found in a node's cache through the directory again.
  const std::string prompt = text_prompt(900);
  parse_ok(d.generate(prompt, 2));
  bool hit = false;
  for (int i = 0; i < 20 && !hit; ++i) {
    hit = parse_ok(d.generate(prompt, 2))["cached_tokens"].get<int>() > 0;
    if (!hit) std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
  CHECK(hit);
}

// Fault injection: a worker dies (SIGKILL) or hangs (SIGSTOP) in the middle of a request.  The
// router notices and dispatches the request again on other nodes (router.max_attempts): the
// client gets the same output as without the fault.  Out of attempts, the client gets an error
// that names the lost node before its deadline.  Either way the deployment goes on serving.

#include <catch2/catch.hpp>
#include <signal.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <nlohmann/json.hpp>
#include <thread>

#include "tests/support/process.h"

using namespace prfaas::testing;
using json = nlohmann::json;

namespace {
const char* kConfig = "[router]\nthreshold_tokens = 256\ndeadline_ms = 30000\n";

std::unique_ptr<child> start_generate(const deployment& d, const temp_dir& out, const std::string& prompt, int max_tokens) {
  return std::make_unique<child>(std::vector<std::string>{PRFAAS_CLI, "generate", "--json", "--state", d.state_dir(),
                                                          "--prompt", prompt, "--max-tokens", std::to_string(max_tokens)},
                                 out.path());
}

void serves_on(const deployment& d, int prompt_bytes, const std::string& path) {
  const auto r = d.generate(text_prompt(prompt_bytes), 6);
  INFO("stderr: " << r.err);
  REQUIRE(r.status == 0);
  CHECK(json::parse(r.out)["path"] == path);
}
}  // namespace

TEST_CASE("a decode node killed mid-decode: the request runs again on the other decode node, same output") {
  deployment d(kConfig);
  temp_dir out;
  const std::string prompt = text_prompt(100);
  // Both decode nodes idle: the router picks decode-0 (least loaded, first by name).
  auto client = start_generate(d, out, prompt, 400);  // seconds of decoding: killed as it starts
  REQUIRE(wait_for_log(d, "decode-0", "decoding from"));
  REQUIRE(::kill(d.pid_of("decode-0"), SIGKILL) == 0);
  const json served = parse_ok(client->wait(60000));
  CHECK(served["decode_node"] == "decode-1");
  CHECK(served["tokens"] == parse_ok(generate_in_process(prompt, 400, d.config_path()))["tokens"]);
  serves_on(d, 120, "local");
  serves_on(d, 900, "prfaas");
}

TEST_CASE("a decode node killed mid-stream: the stream continues on the other decode node from its tokens, no gap, no repeat, no second prefill of the prompt") {
  deployment d(kConfig);
  temp_dir out;
  const std::string prompt = text_prompt(1000);
  const std::vector<std::string> args{PRFAAS_CLI, "generate", "--stream", "--state", d.state_dir(), "--prompt", prompt,
                                      "--max-tokens", "1500"};
  child client(args, out.path());
  // Killed once the client has printed part of the stream (a few seconds of decoding in all).
  REQUIRE(wait_for_log(d, "decode-0", "decoding from"));
  const double until = now_seconds() + 30;
  auto printed = [&] {
    for (const auto& f : std::filesystem::directory_iterator(out.path()))
      if (f.path().extension() == ".out") return slurp(f.path().string()).size();
    return size_t{0};
  };
  while (printed() < 150 && now_seconds() < until) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  REQUIRE(printed() >= 150);
  REQUIRE(::kill(d.pid_of("decode-0"), SIGKILL) == 0);
  const auto streamed = client.wait(60000);
  INFO("stderr: " << streamed.err);
  REQUIRE(streamed.status == 0);
  CHECK(streamed.err.find("decode decode-1") != std::string::npos);
  // The same stream as a run without the fault: nothing missing, nothing twice.
  const auto clean = run(args, 60000);
  REQUIRE(clean.status == 0);
  CHECK(streamed.out == clean.out);
  // Resumed from the tokens it had (the router and the new decode node say so), and its
  // prefill reused the prompt's cached start: the prompt was not prefilled again.
  REQUIRE(wait_for_log(d, "decode-1", "resumed after"));
  const std::string router_log = slurp(d.state_dir() + "/logs/router.log");
  std::smatch m;
  REQUIRE(std::regex_search(router_log, m, std::regex("request ([0-9]+) resumes after ([0-9]+) output tokens")));
  const std::string id = m[1];
  CHECK(std::stoi(m[2]) > 1);
  int prefills = 0, reused = 0;
  const std::regex done("request " + id + " prefilled ([0-9]+) tokens \\(([0-9]+) from the cache\\)");
  for (const char* node : {"prfaas-prefill-0", "prfaas-prefill-1", "local-prefill-0"}) {
    const std::string log = slurp(d.state_dir() + "/logs/" + node + ".log");
    for (auto it = std::sregex_iterator(log.begin(), log.end(), done); it != std::sregex_iterator(); ++it) {
      ++prefills;
      reused = std::max(reused, std::stoi((*it)[2]));
    }
  }
  CHECK(prefills == 2);
  CHECK(reused >= 960);  // the second prefill started from the prompt's cached blocks
}

TEST_CASE("out of attempts, a lost decode node's request fails with an error that names it, within 2 s") {
  deployment d("[router]\nthreshold_tokens = 256\ndeadline_ms = 30000\nmax_attempts = 1\n");
  temp_dir out;
  auto client = start_generate(d, out, text_prompt(100), 3500);
  REQUIRE(wait_for_log(d, "decode-0", "decoding from"));
  const double killed_at = now_seconds();
  REQUIRE(::kill(d.pid_of("decode-0"), SIGKILL) == 0);
  const auto r = client->wait(30000);
  const double noticed_s = now_seconds() - killed_at;
  INFO("stdout: " << r.out << "\nstderr: " << r.err);
  CHECK(r.status == 1);
  CHECK_THAT(r.err, Catch::Contains("node_lost") && Catch::Contains("decode node decode-0 lost"));
  CHECK(noticed_s < 2.0);
  serves_on(d, 120, "local");
}

TEST_CASE("a prefill node killed mid-prefill: the request is prefilled again on the other PrfaaS node, same output") {
  deployment d(kConfig);
  temp_dir out;
  // A near-context prompt keeps prfaas-prefill-0 busy for more than a second.
  const std::string prompt = text_prompt(4000);
  auto client = start_generate(d, out, prompt, 4);
  REQUIRE(wait_for_log(d, "prfaas-prefill-0", "prefill of 4000 tokens started"));
  REQUIRE(::kill(d.pid_of("prfaas-prefill-0"), SIGKILL) == 0);
  const json served = parse_ok(client->wait(60000));
  CHECK(served["prefill_node"] == "prfaas-prefill-1");
  CHECK(served["tokens"] == parse_ok(generate_in_process(prompt, 4, d.config_path()))["tokens"]);
  serves_on(d, 900, "prfaas");  // on prfaas-prefill-1
  serves_on(d, 120, "local");
}

TEST_CASE("a hung decode node (SIGSTOP) is declared lost by middleman heartbeats and its request runs elsewhere") {
  deployment d(kConfig);
  temp_dir out;
  const std::string prompt = text_prompt(100);
  auto client = start_generate(d, out, prompt, 400);  // stopped as it starts decoding
  REQUIRE(wait_for_log(d, "decode-0", "decoding from"));
  const pid_t decode0 = d.pid_of("decode-0");
  REQUIRE(::kill(decode0, SIGSTOP) == 0);
  const auto r = client->wait(60000);
  ::kill(decode0, SIGKILL);
  ::kill(decode0, SIGCONT);
  const json served = parse_ok(r);
  CHECK(served["decode_node"] == "decode-1");
  CHECK(served["tokens"] == parse_ok(generate_in_process(prompt, 400, d.config_path()))["tokens"]);
  std::ifstream log(d.state_dir() + "/logs/router.log");
  const std::string text((std::istreambuf_iterator<char>(log)), std::istreambuf_iterator<char>());
  CHECK_THAT(text, Catch::Contains("decode node decode-0 lost"));
  serves_on(d, 120, "local");
}

TEST_CASE("a request that outlives its deadline ends with deadline_exceeded, not a hang") {
  deployment d(kConfig);
  const auto r = d.generate(text_prompt(100), 3500, {"--deadline-ms", "300"});
  CHECK(r.status == 1);
  CHECK_THAT(r.err, Catch::Contains("deadline_exceeded"));
  CHECK(r.seconds < 10);
  serves_on(d, 120, "local");
}

TEST_CASE("a request past its deadline stops its prefill within one layer on the prefill node") {
  deployment d(kConfig);
  // A near-context prompt takes prfaas-prefill-0 well over a second; the deadline is 300 ms.
  const auto r = d.generate(text_prompt(4000), 4, {"--deadline-ms", "300"});
  CHECK(r.status == 1);
  CHECK_THAT(r.err, Catch::Contains("deadline_exceeded"));
  wait_for_log(d, "prfaas-prefill-0", "prefill stopped after layer", 5000);
  const std::string log = slurp(d.state_dir() + "/logs/prfaas-prefill-0.log");
  INFO(log);
  // Checked after every layer of every 256-token chunk, it stops well before its end: on its own
  // deadline (within one layer's time of it), or on the router's cancellation when the router's
  // deadline timer fired first (the cancel board is read after every layer too).
  const std::regex stopped(R"(prefill stopped after layer (\d+) of 8(, (\d+) ms past|: the request was cancelled))");
  std::smatch m;
  REQUIRE(std::regex_search(log, m, stopped));
  if (m[3].matched) CHECK(std::stoi(m[3]) < 250);
  CHECK(log.find("prefilled 4000 tokens") == std::string::npos);
  serves_on(d, 900, "prfaas");
}

TEST_CASE("a request that fails elsewhere stops its running prefill within one layer (cancellation)") {
  // One attempt only: losing the decode node fails the request, and the router cancels its
  // prefill, which is in the middle of a near-context prompt.
  deployment d("[router]\nmax_attempts = 1\n[deployment]\ndecode = 1\n");
  temp_dir out;
  auto client = start_generate(d, out, text_prompt(4000), 4);
  // Under way: computing, its KV link to the decode node up (killed before that, the decode node
  // would refuse the link, which ends the prefill another way).
  REQUIRE(wait_for_log(d, "prfaas-prefill-0", "KV link to", 10000));
  REQUIRE(::kill(d.pid_of("decode-0"), SIGKILL) == 0);
  const auto r = client->wait(30000);
  CHECK(r.status == 1);
  CHECK_THAT(r.err, Catch::Contains("node_lost"));
  wait_for_log(d, "prfaas-prefill-0", "the request was cancelled", 5000);
  const std::string log = slurp(d.state_dir() + "/logs/prfaas-prefill-0.log");
  INFO(log);
  CHECK(std::regex_search(log, std::regex(R"(prefill stopped after layer \d+ of 8: the request was cancelled)")));
  CHECK(log.find("prefilled 4000 tokens") == std::string::npos);
}

TEST_CASE("beyond the decode nodes' room, requests wait in the admission queue and complete in turn") {
  deployment d("[router]\nthreshold_tokens = 4096\n[node]\nmax_sequences = 1\n[deployment]\ndecode = 1\n");
  temp_dir out;
  std::vector<std::unique_ptr<child>> clients;
  for (int i = 0; i < 3; ++i) clients.push_back(start_generate(d, out, text_prompt(100 + i), 200));
  for (int i = 0; i < 3; ++i) {
    const json served = parse_ok(clients[i]->wait(60000));
    CHECK(served["tokens"] == parse_ok(generate_in_process(text_prompt(100 + i), 200, d.config_path()))["tokens"]);
  }
}

TEST_CASE("past its bound of requests in flight the router refuses with no_capacity and serves on") {
  deployment d("[router]\nmax_in_flight = 1\nqueue_max = 0\n");
  temp_dir out;
  auto first = start_generate(d, out, text_prompt(100), 2000);  // holds the only slot for seconds
  REQUIRE(wait_for_log(d, "decode-0", "decoding from"));
  const auto second = d.generate(text_prompt(100), 2);
  CHECK(second.status == 1);
  CHECK_THAT(second.err, Catch::Contains("no_capacity") && Catch::Contains("maximum of 1 requests"));
  CHECK(first->wait(60000).status == 0);
  serves_on(d, 120, "local");
}

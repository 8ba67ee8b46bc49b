// The OpenAI-compatible gateway over real HTTP: completions and chat, streamed and not, usage,
// the error statuses, API keys, health.

#include <catch2/catch.hpp>

#include <regex>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include <signal.h>
#include <sys/socket.h>
#include <map>
#include <sstream>
#include <thread>

#include "runtime/transport/socket.h"
#include "runtime/metrics/exposition.h"
#include "tests/support/process.h"

using namespace prfaas::testing;
using json = nlohmann::json;

namespace {

httplib::Client client_of(const deployment& d) {
  const auto at = d.gateway();
  REQUIRE_FALSE(at.empty());
  httplib::Client c("http://" + at);
  c.set_read_timeout(60, 0);
  return c;
}

json post(httplib::Client& c, const std::string& path, const json& body, int want_status,
          const httplib::Headers& headers = {}) {
  auto r = c.Post(path.c_str(), headers, body.dump(), "application/json");
  REQUIRE(r);
  INFO(path << " -> " << r->status << " " << r->body);
  CHECK(r->status == want_status);
  return json::parse(r->body, nullptr, false);
}

// The content of a stream of server-sent events, checking each chunk's shape.
struct streamed {
  std::string content;
  std::string finish_reason;
  json usage;
  json extension;  // the request's timeline, in the last chunk
  bool done = false;
  int chunks = 0;
};
streamed read_stream(const std::string& body, bool chat) {
  streamed s;
  size_t at = 0;
  while ((at = body.find("data: ", at)) != std::string::npos) {
    const size_t end = body.find("\n\n", at);
    REQUIRE(end != std::string::npos);
    const std::string data = body.substr(at + 6, end - at - 6);
    at = end + 2;
    if (data == "[DONE]") { s.done = true; break; }
    const json j = json::parse(data);
    ++s.chunks;
    CHECK(j["object"] == (chat ? "chat.completion.chunk" : "text_completion"));
    if (j.contains("usage")) s.usage = j["usage"];
    if (j.contains("prfaas")) s.extension = j["prfaas"];
    for (const auto& c : j["choices"]) {
      if (chat && c["delta"].contains("content")) s.content += c["delta"]["content"].get<std::string>();
      if (!chat) s.content += c["text"].get<std::string>();
      if (!c["finish_reason"].is_null()) s.finish_reason = c["finish_reason"];
    }
  }
  return s;
}

// `prfaas status --json` once nothing is in flight, or as it is after `timeout_ms`.
json status_once_idle(const deployment& d, int timeout_ms) {
  json st;
  for (int waited = 0; waited < timeout_ms; waited += 100) {
    st = parse_ok(run({PRFAAS_CLI, "status", "--json", "--state", d.state_dir()}));
    if (st["in_flight"] == 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return st;
}

}  // namespace

TEST_CASE("the gateway serves completions and chat, streamed and not, with the CLI's output and usage") {
  deployment d;
  auto c = client_of(d);
  const std::string prompt = "The gateway speaks OpenAI's API.";
  const json reference = parse_ok(generate_in_process(prompt, 12));

  const json r = post(c, "/v1/completions", {{"model", "prfaas-tiny"}, {"prompt", prompt}, {"max_tokens", 12}}, 200);
  CHECK(r["object"] == "text_completion");
  CHECK(r["model"] == "prfaas-tiny");
  CHECK(r["choices"][0]["text"] == reference["text"]);
  CHECK(r["choices"][0]["finish_reason"] == "length");
  CHECK(r["usage"]["prompt_tokens"] == prompt.size());
  CHECK(r["usage"]["completion_tokens"] == 12);
  CHECK(r["usage"]["total_tokens"] == prompt.size() + 12);

  auto s = c.Post("/v1/completions", json{{"model", "prfaas-tiny"}, {"prompt", prompt}, {"max_tokens", 12}, {"stream", true}}.dump(),
                  "application/json");
  REQUIRE(s);
  CHECK(s->status == 200);
  CHECK_THAT(s->get_header_value("Content-Type"), Catch::StartsWith("text/event-stream"));
  const auto text_stream = read_stream(s->body, false);
  CHECK(text_stream.done);
  CHECK(text_stream.content == r["choices"][0]["text"]);
  CHECK(text_stream.finish_reason == "length");
  CHECK(text_stream.extension["outcome"] == "completed");

  const json chat_body = {{"model", "prfaas-tiny"},
                          {"messages", {{{"role", "system"}, {"content", "Be brief."}}, {{"role", "user"}, {"content", "Hello!"}}}},
                          {"max_completion_tokens", 8}};
  const json chat = post(c, "/v1/chat/completions", chat_body, 200);
  CHECK(chat["object"] == "chat.completion");
  CHECK(chat["choices"][0]["message"]["role"] == "assistant");
  // Ids are 128 random bits: one response tells nothing of another's.
  const std::string id = chat["id"].get<std::string>();
  CHECK(std::regex_match(id, std::regex("chatcmpl-[0-9a-f]{32}")));
  CHECK(post(c, "/v1/chat/completions", chat_body, 200)["id"] != id);
  // The documented chat template, through the CLI's path, gives the same reply.
  const json chat_reference =
      parse_ok(generate_in_process("<|system|>\nBe brief.\n<|user|>\nHello!\n<|assistant|>\n", 8));
  CHECK(chat["choices"][0]["message"]["content"] == chat_reference["text"]);

  json stream_body = chat_body;
  stream_body["stream"] = true;
  stream_body["stream_options"] = {{"include_usage", true}};
  auto cs = c.Post("/v1/chat/completions", stream_body.dump(), "application/json");
  REQUIRE(cs);
  const auto chat_stream = read_stream(cs->body, true);
  CHECK(chat_stream.done);
  CHECK(chat_stream.content == chat["choices"][0]["message"]["content"]);
  CHECK(chat_stream.usage["completion_tokens"] == 8);

  auto models = c.Get("/v1/models");
  REQUIRE(models);
  CHECK(json::parse(models->body)["data"][0]["id"] == "prfaas-tiny");
  auto health = c.Get("/health");
  REQUIRE(health);
  CHECK(health->status == 200);
}

TEST_CASE("the gateway answers bad requests with OpenAI's error object and the right status") {
  deployment d("[gateway]\nmax_body_bytes = 2048\n");
  auto c = client_of(d);
  auto bad_json = c.Post("/v1/completions", "{not json", "application/json");
  REQUIRE(bad_json);
  CHECK(bad_json->status == 400);
  CHECK(json::parse(bad_json->body)["error"]["type"] == "invalid_request_error");
  CHECK(post(c, "/v1/completions", {{"model", "gpt-4"}, {"prompt", "x"}}, 404)["error"]["param"] == "model");
  CHECK(post(c, "/v1/completions", {{"model", "prfaas-tiny"}, {"prompt", "x"}, {"temperature", 3}}, 400)["error"]["param"] ==
        "temperature");
  CHECK(post(c, "/v1/completions", {{"model", "prfaas-tiny"}, {"prompt", "x"}, {"n", 99}}, 400)["error"]["param"] == "n");
  const json unknown = post(c, "/v1/completions", {{"model", "prfaas-tiny"}, {"prompt", "x"}, {"frobnicate", 1}}, 400);
  CHECK(unknown["error"]["param"] == "frobnicate");
  CHECK_THAT(unknown["error"]["message"].get<std::string>(), Catch::Contains("'frobnicate' is not supported"));
  CHECK(post(c, "/v1/completions", {{"model", "prfaas-tiny"}, {"prompt", "x"}, {"max_tokens", 0}}, 400)["error"]["param"] ==
        "max_tokens");
  CHECK(post(c, "/v1/chat/completions", {{"model", "prfaas-tiny"}, {"messages", json::array()}}, 400)["error"]["param"] ==
        "messages");
  // The model's context is 4,096 tokens: the router refuses a longer request by name.
  const json too_long = post(c, "/v1/completions", {{"model", "prfaas-tiny"}, {"prompt", std::string(1500, 'a')}, {"max_tokens", 4000}}, 400);
  CHECK_THAT(too_long["error"]["message"].get<std::string>(), Catch::Contains("context"));
  auto big = c.Post("/v1/completions", json{{"model", "prfaas-tiny"}, {"prompt", std::string(4000, 'a')}}.dump(), "application/json");
  REQUIRE(big);
  CHECK(big->status == 413);
  CHECK(json::parse(big->body)["error"]["type"] == "invalid_request_error");
}

TEST_CASE("with an API key file the gateway wants a bearer key, health turns 503 when the decode nodes are gone") {
  temp_dir keys;
  const std::string file = keys.write("keys.txt", "# one key per line\nsk-test-1\n");
  deployment d("[gateway]\napi_key_file = \"" + file + "\"\n[router]\nnode_timeout_ms = 600\nheartbeat_ms = 100\n");
  auto c = client_of(d);
  const json body = {{"model", "prfaas-tiny"}, {"prompt", "key?"}, {"max_tokens", 2}};
  CHECK(post(c, "/v1/completions", body, 401)["error"]["type"] == "invalid_request_error");
  CHECK(c.Get("/metrics")->status == 401);
  post(c, "/v1/completions", body, 401, {{"Authorization", "Bearer sk-wrong"}});
  post(c, "/v1/completions", body, 200, {{"Authorization", "Bearer sk-test-1"}});
  auto models = c.Get("/v1/models");
  REQUIRE(models);
  CHECK(models->status == 401);

  // Stopped decode nodes are declared lost after node_timeout_ms (the launcher restarts only
  // nodes that exit).
  for (const char* n : {"decode-0", "decode-1"}) ::kill(d.pid_of(n), SIGSTOP);
  int status = 0;
  std::string reason;
  for (int waited = 0; waited < 10000 && status != 503; waited += 200) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    auto h = c.Get("/health");
    REQUIRE(h);
    status = h->status;
    reason = json::parse(h->body).value("reason", "");
  }
  CHECK(status == 503);
  CHECK(reason == "no decode node is up");
  // A completion is refused at once once the gateway's poller has seen it: it looks every 2 s
  // while the deployment is ready (/health asks the router itself, so it may know first).
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));
  json refused;
  for (int waited = 0; waited < 3000; waited += 250) {
    auto r = c.Post("/v1/completions", {{"Authorization", "Bearer sk-test-1"}}, body.dump(), "application/json");
    REQUIRE(r);
    refused = json::parse(r->body);
    if (r->status == 503) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
  CHECK(refused["error"]["type"] == "service_unavailable_error");
  CHECK_THAT(refused["error"]["message"].get<std::string>(), Catch::Contains("no decode node is up"));
  for (const char* n : {"decode-0", "decode-1"}) ::kill(d.pid_of(n), SIGCONT);
}

TEST_CASE("tokens stream as the decode node makes them, a client that leaves mid-stream cancels its request") {
  deployment d("[router]\nthreshold_tokens = 100000\n");
  auto c = client_of(d);
  // 3,000 tokens take seconds to decode: chunks that arrive before then came as they were made.
  const json body = {{"model", "prfaas-tiny"}, {"prompt", "stream me"}, {"max_tokens", 3000}, {"stream", true}};
  int content_chunks = 0;
  std::string received;
  httplib::Request req;
  req.method = "POST";
  req.path = "/v1/completions";
  req.body = body.dump();
  req.set_header("Content-Type", "application/json");
  req.content_receiver = [&](const char* data, size_t n, uint64_t, uint64_t) {
    received.append(data, n);
    content_chunks = 0;
    for (size_t at = 0; (at = received.find("\"text\":\"", at)) != std::string::npos; at += 8) ++content_chunks;
    return content_chunks < 5;  // then hang up
  };
  httplib::Response res;
  httplib::Error error = httplib::Error::Success;
  c.send(req, res, error);
  CHECK(content_chunks >= 5);
  // The request ends as cancelled, not completed, and nothing stays held.
  const json st = status_once_idle(d, 10000);
  CHECK(st["in_flight"] == 0);
  CHECK(st["completed"] == 0);
  CHECK(st["failed"] == 1);
  // The CLI streams too, with the reference's output.
  const auto streamed = run({PRFAAS_CLI, "generate", "--stream", "--json", "--state", d.state_dir(), "--prompt", "abc",
                             "--max-tokens", "20"});
  CHECK(parse_ok(streamed)["tokens"] == parse_ok(generate_in_process("abc", 20))["tokens"]);
}

TEST_CASE("the metrics page passes promtool and counts what was served, replies carry their timeline and prfaas trace finds it") {
  deployment d("[router]\nthreshold_tokens = 256\n");
  auto c = client_of(d);
  // A long prompt prefills on the PrfaaS cluster, a short one locally.
  const json long_reply = post(c, "/v1/completions", {{"model", "prfaas-tiny"}, {"prompt", text_prompt(1200)}, {"max_tokens", 6}}, 200);
  auto short_reply = c.Post("/v1/completions", json{{"model", "prfaas-tiny"}, {"prompt", "short"}, {"max_tokens", 6}}.dump(),
                            "application/json");
  REQUIRE(short_reply);
  REQUIRE(short_reply->status == 200);
  c.Get("/no/such/path");

  // The timeline: every phase in order, on the nodes that served it.
  const json t = long_reply["prfaas"];
  CHECK(t["path"] == "prfaas");
  CHECK(t["outcome"] == "completed");
  CHECK(t["output_tokens"] == 6);
  CHECK(t["kv_bytes"].get<int64_t>() > 0);
  const json ph = t["phases_ms"];
  for (const char* k : {"routed_ms", "prefill_start_ms", "first_kv_sent_ms", "prefill_end_ms", "last_kv_sent_ms",
                        "first_kv_received_ms", "last_kv_received_ms", "first_token_ms", "done_ms"})
    CHECK(ph.contains(k));
  CHECK(ph["routed_ms"] <= ph["prefill_start_ms"]);
  CHECK(ph["prefill_start_ms"] <= ph["first_kv_sent_ms"]);
  CHECK(ph["first_kv_sent_ms"] <= ph["prefill_end_ms"]);
  CHECK(ph["first_kv_received_ms"] <= ph["last_kv_received_ms"]);
  CHECK(ph["last_kv_received_ms"] <= ph["first_token_ms"]);
  CHECK(ph["first_token_ms"] <= ph["done_ms"]);
  const std::string id = std::to_string(t["request"].get<uint64_t>());
  CHECK(short_reply->get_header_value("X-Prfaas-Request-Id") ==
        std::to_string(json::parse(short_reply->body)["prfaas"]["request"].get<uint64_t>()));
  const json traced = parse_ok(run({PRFAAS_CLI, "trace", id, "--json", "--state", d.state_dir()}));
  CHECK(traced["prefill_node"] == t["prefill_node"]);
  CHECK(traced["decode_node"] == t["decode_node"]);
  CHECK(traced["phases_ms"]["done_ms"] == t["phases_ms"]["done_ms"]);
  const auto unknown = run({PRFAAS_CLI, "trace", "12345", "--state", d.state_dir()});
  CHECK(unknown.status == 1);
  CHECK_THAT(unknown.err, Catch::Contains("holds no request 12345"));

  // The page: promtool's own check, and the counts.
  temp_dir dir;
  auto m = c.Get("/metrics");
  REQUIRE(m);
  CHECK(m->status == 200);
  const std::string page = dir.write("metrics.txt", m->body);
  const auto router_only = run({PRFAAS_CLI, "metrics", "--state", d.state_dir()});
  REQUIRE(router_only.status == 0);
  const std::string router_page = dir.write("router.txt", router_only.out);
  for (const auto& f : {page, router_page}) {
    const auto check = run({"/bin/sh", "-c", "promtool check metrics < '" + f + "'"});
    INFO(check.out << check.err);
    CHECK(check.status == 0);
  }
  const auto v = prfaas::metrics::read_samples(m->body);
  CHECK(v.at("prfaas_requests_total{path=\"prfaas\",outcome=\"completed\"}") == 1);
  CHECK(v.at("prfaas_requests_total{path=\"local\",outcome=\"completed\"}") == 1);
  CHECK(v.at("prfaas_ttft_seconds_count") == 2);
  CHECK(v.at("prfaas_e2e_seconds_count") == 2);
  CHECK(v.at("prfaas_gateway_http_requests_total{path=\"/v1/completions\",code=\"200\"}") == 2);
  CHECK(v.at("prfaas_gateway_http_requests_total{path=\"other\",code=\"404\"}") == 1);
  CHECK(v.at("prfaas_gateway_router_up") == 1);
  CHECK(v.at("prfaas_threshold_tokens") == 256);
  CHECK(v.at("prfaas_node_events_total{role=\"decode\",event=\"up\"}") == 2);
  CHECK(v.at("prfaas_decode_sequences{node=\"decode-0\"}") == 0);
  CHECK(v.at("prfaas_kv_sent_bytes_total{from=\"" + t["prefill_node"].get<std::string>() + "\",to=\"" +
             t["decode_node"].get<std::string>() + "\"}") == t["kv_bytes"].get<double>());
  for (const char* family : {"prfaas_time_per_output_token_seconds_count", "prfaas_queue_seconds_count", "prfaas_offload_ratio",
                             "prfaas_link_capacity_bytes_per_second", "prfaas_requests_in_flight"})
    CHECK(v.count(family));
  bool cache_family = false, link_family = false;
  for (const auto& [name, value] : v) {
    cache_family |= name.rfind("prfaas_cache_lookups_total{", 0) == 0;
    link_family |= name.rfind("prfaas_link_rtt_seconds{", 0) == 0;
  }
  CHECK(cache_family);
  CHECK(link_family);
}

TEST_CASE("past the gateway's limit of open requests a completion gets 429, past its deadline 504") {
  deployment d("[router]\ndeadline_ms = 1000\n[gateway]\nmax_open = 1\n");
  auto c = client_of(d);
  // About 4,000 tokens take the tiny model over a second to decode: the deadline ends it.
  json slow;
  int slow_status = 0;
  std::thread slow_client([&] {
    auto c2 = client_of(d);
    auto r = c2.Post("/v1/completions", json{{"model", "prfaas-tiny"}, {"prompt", "slow"}, {"max_tokens", 4000}}.dump(),
                     "application/json");
    if (r) {
      slow_status = r->status;
      slow = json::parse(r->body, nullptr, false);
    }
  });
  double open_now = 0;
  for (int waited = 0; waited < 900 && open_now < 1; waited += 20) {
    auto m = c.Get("/metrics");
    if (m) open_now = prfaas::metrics::read_samples(m->body)["prfaas_gateway_open_requests"];
    if (open_now < 1) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  REQUIRE(open_now == 1);
  const json busy = post(c, "/v1/completions", {{"model", "prfaas-tiny"}, {"prompt", "x"}, {"max_tokens", 2}}, 429);
  CHECK(busy["error"]["type"] == "rate_limit_error");
  slow_client.join();
  CHECK(slow_status == 504);
  CHECK(slow["error"]["type"] == "timeout_error");
  const auto v = prfaas::metrics::read_samples(c.Get("/metrics")->body);
  CHECK(v.at("prfaas_gateway_http_requests_total{path=\"/v1/completions\",code=\"429\"}") == 1);
  CHECK(v.at("prfaas_requests_total{path=\"local\",outcome=\"deadline_exceeded\"}") == 1);
}

TEST_CASE("bench serve drives the gateway and the actor plane with streaming requests and both give the same text") {
  const auto r = run({PRFAAS_CLI, "bench", "serve", "--concurrency", "2", "--requests", "6", "--max-tokens", "8", "--json"},
                     120000);
  const json j = parse_ok(r);
  for (const char* path : {"gateway", "actor_plane"}) {
    CHECK(j[path]["completed"] == 6);
    CHECK(j[path]["req_per_s"].get<double>() > 0);
    CHECK(j[path]["ttft_ms"]["p50"].get<double>() > 0);
    CHECK(j[path]["itl_ms"]["p90"].get<double>() >= j[path]["itl_ms"]["p50"].get<double>());
  }
  CHECK(j["identical_outputs"] == 6);
  CHECK(j.contains("gateway_added_ms"));
}

TEST_CASE("a stop string ends the sequence on the decode node: 5 tokens decoded of 200 asked, its slot free at once") {
  deployment d;
  auto c = client_of(d);
  // The greedy output (letters only: the byte model's other bytes biased away), and a stop
  // string that first appears ending at its 5th token.
  json letters = json::object();
  for (int b = 'a'; b <= 'z'; ++b) letters[std::to_string(b)] = 100;
  std::string prompt, output, stop;
  for (int i = 0; i < 8 && stop.empty(); ++i) {
    prompt = "Stop where I say, attempt " + std::to_string(i) + ".";
    output = post(c, "/v1/completions", {{"model", "prfaas-tiny"}, {"prompt", prompt}, {"max_tokens", 20}, {"logit_bias", letters}},
                  200)["choices"][0]["text"];
    if (output.size() == 20 && output.find(output.substr(3, 2)) == 3) stop = output.substr(3, 2);
  }
  REQUIRE_FALSE(stop.empty());
  const json r = post(c, "/v1/completions", {{"model", "prfaas-tiny"}, {"prompt", prompt}, {"max_tokens", 200}, {"stop", stop},
                                             {"logit_bias", letters}}, 200);
  CHECK(r["choices"][0]["text"] == output.substr(0, 3));
  CHECK(r["choices"][0]["finish_reason"] == "stop");
  CHECK(r["usage"]["completion_tokens"].get<int>() <= 6);
  CHECK(r["prfaas"]["output_tokens"].get<int>() <= 6);  // the decode node produced only these
  // The router freed the decode node's sequence when the node reported it done: nothing held.
  auto m = c.Get("/metrics");
  REQUIRE(m);
  std::smatch hit;
  const std::regex held(R"(prfaas_decode_sequences\{[^}]*\} ([0-9.]+))");
  int decode_gauges = 0;
  for (auto it = std::sregex_iterator(m->body.begin(), m->body.end(), held); it != std::sregex_iterator(); ++it) {
    CHECK((*it)[1].str() == "0");
    ++decode_gauges;
  }
  CHECK(decode_gauges == 2);
  // Streamed: the same text, the stop string never shown, the same finish.
  auto s = c.Post("/v1/completions", json{{"model", "prfaas-tiny"}, {"prompt", prompt}, {"max_tokens", 200}, {"stop", stop},
                                          {"logit_bias", letters}, {"stream", true},
                                          {"stream_options", {{"include_usage", true}}}}.dump(),
                  "application/json");
  REQUIRE(s);
  const auto got = read_stream(s->body, false);
  CHECK(got.content == output.substr(0, 3));
  CHECK(got.finish_reason == "stop");
  CHECK(got.usage["completion_tokens"].get<int>() <= 6);
  // A stop token id ends it too: the 5th token's byte.
  const json t = post(c, "/v1/completions", {{"model", "prfaas-tiny"}, {"prompt", prompt}, {"max_tokens", 200}, {"logit_bias", letters},
                                             {"stop_token_ids", {static_cast<unsigned char>(output[4])}}}, 200);
  CHECK(t["choices"][0]["finish_reason"] == "stop");
  CHECK(t["usage"]["completion_tokens"].get<int>() == static_cast<int>(output.find(output[4])) + 1);
}

TEST_CASE("seeded sampling through the gateway: the same seed the same text, streamed or not, two seeds differ, temperature 0 is greedy, n choices") {
  deployment d;
  auto c = client_of(d);
  const std::string prompt = "Sample from me, please.";
  auto complete = [&](json extra) {
    json body = {{"model", "prfaas-tiny"}, {"prompt", prompt}, {"max_tokens", 24}};
    body.update(extra);
    return post(c, "/v1/completions", body, 200);
  };
  const json greedy = complete(json::object());
  const json a = complete({{"temperature", 1.2}, {"top_p", 0.95}, {"seed", 5}});
  const json b = complete({{"temperature", 1.2}, {"top_p", 0.95}, {"seed", 5}});
  const json other = complete({{"temperature", 1.2}, {"top_p", 0.95}, {"seed", 6}});
  CHECK(a["choices"][0]["text"] == b["choices"][0]["text"]);
  CHECK(a["prfaas"]["seed"] == 5);
  CHECK(a["choices"][0]["text"] != other["choices"][0]["text"]);
  CHECK(a["choices"][0]["text"] != greedy["choices"][0]["text"]);
  CHECK(complete({{"temperature", 0}, {"seed", 9}})["choices"][0]["text"] == greedy["choices"][0]["text"]);
  // Without a seed the router picks one and says which: asking with it gives the same text.
  const json unseeded = complete({{"temperature", 1.2}});
  const auto picked = unseeded["prfaas"]["seed"].get<uint64_t>();
  CHECK(complete({{"temperature", 1.2}, {"seed", picked}})["choices"][0]["text"] == unseeded["choices"][0]["text"]);
  // n = 2: two choices of one seed, the first the n = 1 one, the second its own stream.
  const json two = complete({{"temperature", 1.2}, {"top_p", 0.95}, {"seed", 5}, {"n", 2}});
  REQUIRE(two["choices"].size() == 2);
  CHECK(two["choices"][0]["text"] == a["choices"][0]["text"]);
  CHECK(two["choices"][1]["text"] != a["choices"][0]["text"]);
  CHECK(two["usage"]["completion_tokens"] == 48);
  // Streamed: the same text.
  auto s = c.Post("/v1/completions", json{{"model", "prfaas-tiny"}, {"prompt", prompt}, {"max_tokens", 24}, {"temperature", 1.2},
                                          {"top_p", 0.95}, {"seed", 5}, {"stream", true}}.dump(),
                  "application/json");
  REQUIRE(s);
  CHECK(read_stream(s->body, false).content == a["choices"][0]["text"].get<std::string>());
}

TEST_CASE("with [gateway] tls the gateway serves HTTPS under the deployment's CA: curl --cacert works, plain HTTP is refused") {
  deployment d("[gateway]\ntls = true\n");
  const std::string at = d.gateway();
  REQUIRE_FALSE(at.empty());
  const std::string ca = d.state_dir() + "/pki/ca.pem";
  const std::string port = at.substr(at.rfind(':') + 1);
  // curl checks the certificate against the CA and the name it dialled (127.0.0.1, localhost).
  for (const std::string host : {"127.0.0.1", "localhost"}) {
    const auto r = run({"curl", "-sS", "--cacert", ca, "https://" + host + ":" + port + "/v1/models"}, 30000);
    INFO(r.out << r.err);
    CHECK(r.status == 0);
    CHECK(json::parse(r.out)["data"][0]["id"] == "prfaas-tiny");
  }
  // Without the CA the certificate is not trusted.
  CHECK(run({"curl", "-sS", "https://127.0.0.1:" + port + "/v1/models"}, 30000).status != 0);
  // A completion over HTTPS with cpp-httplib trusting the CA.
  httplib::Client tls("https://" + at);
  tls.set_ca_cert_path(ca.c_str());
  tls.enable_server_certificate_verification(true);
  tls.set_read_timeout(60, 0);
  auto r = tls.Post("/v1/completions", json{{"model", "prfaas-tiny"}, {"prompt", "over TLS"}, {"max_tokens", 4}}.dump(),
                    "application/json");
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(json::parse(r->body)["usage"]["completion_tokens"] == 4);
  // Plain HTTP to the HTTPS port: no HTTP answer.
  httplib::Client plain("http://" + at);
  plain.set_read_timeout(5, 0);
  auto p = plain.Get("/v1/models");
  CHECK((!p || p->status != 200));
  const auto c = run({"curl", "-sS", "http://" + at + "/v1/models"}, 30000);
  CHECK(c.status != 0);
}

TEST_CASE("log-probabilities: completions' top N per token and chat's content list, the greedy token the most likely") {
  deployment d;
  auto c = client_of(d);
  const json r = post(c, "/v1/completions", {{"model", "prfaas-tiny"}, {"prompt", "Log me."}, {"max_tokens", 8}, {"logprobs", 3}}, 200);
  const auto& lp = r["choices"][0]["logprobs"];
  REQUIRE(lp["tokens"].size() == 8);
  for (size_t i = 0; i < 8; ++i) {
    INFO("token " << i);
    CHECK(lp["token_logprobs"][i].get<double>() <= 0);
    CHECK(lp["top_logprobs"][i].size() >= 1);  // 3, fewer only where tokens' texts coincide
    // Greedy: the chosen token is the most likely (the byte model's tokens that are not whole
    // UTF-8 characters share one text, so the map may hold fewer than 3).
    for (const auto& [text, v] : lp["top_logprobs"][i].items()) CHECK(lp["token_logprobs"][i].get<double>() >= v.get<double>() - 1e-5);
  }
  CHECK(lp["token_logprobs"][0].get<double>() < 0);  // the first token's: sent by the prefill with the KV
  const json chat = post(c, "/v1/chat/completions", {{"model", "prfaas-tiny"}, {"messages", {{{"role", "user"}, {"content", "hi"}}}},
                                                     {"max_tokens", 5}, {"logprobs", true}, {"top_logprobs", 2},
                                                     {"temperature", 1.0}, {"seed", 3}}, 200);
  const auto& content = chat["choices"][0]["logprobs"]["content"];
  REQUIRE(content.size() == 5);
  for (const auto& e : content) {
    CHECK(e["top_logprobs"].size() == 2);
    CHECK(e["logprob"].get<double>() <= 0);
    CHECK(e["bytes"].is_array());
  }
  CHECK(post(c, "/v1/completions", {{"model", "prfaas-tiny"}, {"prompt", "x"}, {"logprobs", 21}}, 400)["error"]["param"] == "logprobs");
}

TEST_CASE("a client that hangs up before its non-streamed answer cancels its request, freeing its slot") {
  deployment d("[router]\nthreshold_tokens = 100000\n");
  const auto at = d.gateway();
  const uint16_t port = static_cast<uint16_t>(std::stoi(at.substr(at.rfind(':') + 1)));
  // 3,500 tokens take about a second here; the client leaves after 200 ms.
  const std::string body = json{{"model", "prfaas-tiny"}, {"prompt", "nobody waits for me"}, {"max_tokens", 3500}}.dump();
  const std::string request = "POST /v1/completions HTTP/1.1\r\nHost: gateway\r\nContent-Type: application/json\r\n"
                              "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
  {
    auto s = prfaas::transport::connect_tcp({"127.0.0.1", port}, std::chrono::seconds(5));
    REQUIRE(::send(s.get(), request.data(), request.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(request.size()));
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }  // hung up
  const json st = status_once_idle(d, 15000);
  CHECK(st["in_flight"] == 0);
  CHECK(st["completed"] == 0);
  CHECK(st["failed"] == 1);
  CHECK_THAT(slurp(d.state_dir() + "/logs/gateway.log"), Catch::Contains("hung up; cancelling its 1 choice(s)"));
}

TEST_CASE("a non-streamed request longer than one try: the try that timed out is told to the router by the door, and the retry joins the request, which completes once") {
  // Every prefill layer held back 400 ms: the gateway's first try (1 s) times out while it prefills.
  deployment d("[router]\nthreshold_tokens = 100000\n[faults]\ndelay_layer_ms = 400\n");
  auto c = client_of(d);
  const json out = post(c, "/v1/completions", {{"model", "prfaas-tiny"}, {"prompt", "wait for me"}, {"max_tokens", 8}}, 200);
  CHECK(out["choices"][0]["text"].is_string());
  const json st = status_once_idle(d, 15000);
  CHECK(st["completed"] == 1);
  CHECK(st["failed"] == 0);
  const std::string log = slurp(d.state_dir() + "/logs/router.log");
  CHECK_THAT(log, Catch::Contains("its caller at a client door stopped waiting"));
  CHECK_THAT(log, Catch::Contains("joined it"));
  CHECK_THAT(log, !Catch::Contains("everyone waiting for it went away"));
}

TEST_CASE("two gateway replicas: independent doors on their own ports, both listed, one lost mid-stream cancels its request everywhere") {
  deployment d("[router]\nthreshold_tokens = 100000\n[gateway]\nreplicas = 2\n");
  const json st = parse_ok(run({PRFAAS_CLI, "status", "--json", "--state", d.state_dir()}));
  REQUIRE(st["gateways"].size() == 2);
  CHECK(st["gateways"][0] != st["gateways"][1]);
  CHECK(st["gateway"] == st["gateways"][0]);
  std::vector<std::unique_ptr<httplib::Client>> doors;
  for (const auto& url : st["gateways"]) {
    std::string at = url.get<std::string>().substr(7);  // http://HOST:PORT/v1
    at = at.substr(0, at.find('/'));
    doors.push_back(std::make_unique<httplib::Client>("http://" + at));
    doors.back()->set_read_timeout(60, 0);
    const json r = post(*doors.back(), "/v1/completions", {{"model", "prfaas-tiny"}, {"prompt", "hello"}, {"max_tokens", 4}}, 200);
    CHECK(r["choices"][0]["text"].get<std::string>().size() > 0);
  }
  // A long stream through the second door; the door's process dies once tokens are flowing.
  httplib::Request req;
  req.method = "POST";
  req.path = "/v1/completions";
  req.body = json{{"model", "prfaas-tiny"}, {"prompt", "stream me"}, {"max_tokens", 3000}, {"stream", true}}.dump();
  req.set_header("Content-Type", "application/json");
  std::string received;
  bool killed = false;
  req.content_receiver = [&](const char* data, size_t n, uint64_t, uint64_t) {
    received.append(data, n);
    if (!killed && received.find("data: ", received.find("data: ") + 1) != std::string::npos) {
      killed = ::kill(d.pid_of("gateway-1"), SIGKILL) == 0;
    }
    return true;
  };
  httplib::Response res;
  httplib::Error error = httplib::Error::Success;
  doors[1]->send(req, res, error);
  REQUIRE(killed);
  // The router hears the door's actors go and, after its grace, ends the request on every node.
  const json after = status_once_idle(d, 15000);
  CHECK(after["in_flight"] == 0);
  CHECK(after["failed"] == 1);
  CHECK(wait_for_log(d, "router", "everyone waiting for it went away"));
  // The other door never noticed.
  post(*doors[0], "/v1/completions", {{"model", "prfaas-tiny"}, {"prompt", "still here"}, {"max_tokens", 4}}, 200);
}

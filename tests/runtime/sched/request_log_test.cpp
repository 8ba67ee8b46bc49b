// The router's request log: timelines with node phases placed on the router's clock, the ring
// of recent requests, and the aggregates the metrics page shows.

#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "runtime/sched/request_log.h"

using namespace prfaas;
using namespace prfaas::sched;

TEST_CASE("a timeline places each node's phases after the moment the router sent it the job") {
  request_log log;
  log.accepted(7, 3000, 16, 10.0, 1'700'000'000'000);
  log.routed(7, "prfaas", "prfaas-0", "decode-1", 512, 10.002);   // 2 ms of queueing
  log.prefill_sent(7, 10.003);
  // The prefill node: compute 1 ms after taking the job, first layer out at 40 ms, done at
  // 900 ms, the last byte confirmed at 950 ms (its own clock, from taking the job).
  log.prefill_reported(7, {1, 40, 900, 950}, 1 << 20);
  // The decode node, from its reservation (sent at 10.002): first payload at 45 ms, all at 951.
  log.first_token(7, {45, 951}, 1 << 20, 10.9535);
  log.ended(7, "completed", "", 16, 150, 11.1);
  const timeline* t = log.find(7);
  REQUIRE(t);
  CHECK(t->outcome == "completed");
  CHECK(t->path == "prfaas");
  CHECK(t->prefill_node == "prfaas-0");
  CHECK(t->decode_node == "decode-1");
  CHECK(t->cached_tokens == 512);
  CHECK(t->attempts == 1);
  CHECK(t->routed_ms == Approx(2));
  CHECK(t->prefill_start_ms == Approx(4));
  CHECK(t->first_kv_sent_ms == Approx(43));
  CHECK(t->prefill_end_ms == Approx(903));
  CHECK(t->last_kv_sent_ms == Approx(953));
  CHECK(t->first_kv_received_ms == Approx(47));
  CHECK(t->last_kv_received_ms == Approx(953));
  CHECK(t->first_token_ms == Approx(953.5));
  CHECK(t->done_ms == Approx(1100));
  CHECK(t->kv_bytes == 1 << 20);

  const auto j = nlohmann::json::parse(to_json(*t));
  CHECK(j["phases_ms"]["first_token_ms"] == Approx(953.5));
  CHECK(j["outcome"] == "completed");
  const std::string text = to_text(*t);
  CHECK(text.find("first KV layer sent by prfaas-0") < text.find("first KV layer received by decode-1"));
  CHECK(text.find("first token") < text.find("done"));
}

TEST_CASE("phases not reached stay absent, a re-dispatch keeps the first routing and counts attempts") {
  request_log log;
  log.accepted(1, 100, 4, 0, 0);
  log.routed(1, "local", "local-0", "decode-0", 0, 0.001);
  log.prefill_sent(1, 0.002);
  log.routed(1, "local", "local-1", "decode-1", 0, 0.5);  // the first prefill node was lost
  const timeline* live = log.find(1);
  REQUIRE(live);
  CHECK(live->outcome.empty());
  CHECK(live->attempts == 2);
  CHECK(live->routed_ms == Approx(1));
  CHECK(live->prefill_node == "local-1");
  log.ended(1, "deadline_exceeded", "past its deadline", 0, 0, 2.0);
  const timeline* t = log.find(1);
  REQUIRE(t);
  CHECK(t->prefill_start_ms < 0);
  CHECK(t->first_token_ms < 0);
  const auto j = nlohmann::json::parse(to_json(*t));
  CHECK_FALSE(j["phases_ms"].contains("first_token_ms"));
  CHECK(j["error"] == "past its deadline");
}

TEST_CASE("the log keeps the most recent ended requests, and forgets the oldest") {
  request_log log(3);
  for (uint64_t id = 1; id <= 5; ++id) {
    log.accepted(id, 10, 1, 0, 0);
    log.ended(id, "completed", "", 1, 0, 0.01);
  }
  CHECK_FALSE(log.find(1));
  CHECK_FALSE(log.find(2));
  CHECK(log.find(3));
  CHECK(log.find(5));
  CHECK(log.in_flight() == 0);
}

TEST_CASE("the aggregates count outcomes by path and fill the latency histograms of completed requests") {
  request_log log;
  log.accepted(1, 10, 5, 0, 0);
  log.routed(1, "local", "p", "d", 0, 0);
  log.prefill_sent(1, 0);
  log.prefill_reported(1, {0, 1, 2, 3}, 100);
  log.first_token(1, {1, 2}, 100, 0.2);
  log.ended(1, "completed", "", 5, 40, 0.3);  // 4 tokens after the first in 40 ms: 10 ms each
  log.accepted(2, 10, 5, 0, 0);
  log.ended(2, "no_capacity", "full", 0, 0, 0.001);
  log.refused("prompt_too_long");
  metrics::exposition page;
  log.write(page);
  const std::string& s = page.str();
  CHECK(s.find("prfaas_requests_total{path=\"local\",outcome=\"completed\"} 1\n") != std::string::npos);
  CHECK(s.find("prfaas_requests_total{path=\"none\",outcome=\"no_capacity\"} 1\n") != std::string::npos);
  CHECK(s.find("prfaas_requests_total{path=\"none\",outcome=\"prompt_too_long\"} 1\n") != std::string::npos);
  CHECK(s.find("prfaas_ttft_seconds_count 1\n") != std::string::npos);
  CHECK(s.find("prfaas_ttft_seconds_bucket{le=\"0.1\"} 0\n") != std::string::npos);
  CHECK(s.find("prfaas_ttft_seconds_bucket{le=\"0.25\"} 1\n") != std::string::npos);
  CHECK(s.find("prfaas_time_per_output_token_seconds_bucket{le=\"0.005\"} 0\n") != std::string::npos);
  CHECK(s.find("prfaas_time_per_output_token_seconds_bucket{le=\"0.01\"} 1\n") != std::string::npos);
  CHECK(s.find("prfaas_kv_sent_bytes_total{from=\"p\",to=\"d\"} 100\n") != std::string::npos);
  CHECK(s.find("prfaas_kv_received_bytes_total{from=\"p\",to=\"d\"} 100\n") != std::string::npos);
}

// The simulator against the analytic model, its control loops, and its determinism.

#include <catch2/catch.hpp>

#include <cmath>
#include <functional>

#include "runtime/policy/planner.h"
#include "runtime/sched/request_checker.h"
#include "runtime/sim/prefix_cache.h"
#include "runtime/sim/saturation.h"
#include "runtime/sim/simulator.h"
#include "runtime/sim/trace_prompt.h"
#include "runtime/sim/workload.h"

using namespace prfaas;

namespace {

sim::scenario case_study() {
  return sim::load_scenario(PRFAAS_SOURCE_DIR "/scenarios/paper-case-study.toml");
}

policy::throughput_point planned(const sim::scenario& s) {
  const auto d = policy::length_distribution::truncated_lognormal(s.mu, s.sigma, s.min_tokens, s.max_tokens);
  return policy::plan({&s.prfaas, &s.pd, s.n_prfaas, s.n_pd, s.link_gbps, s.output_tokens, &d, 512});
}

}  // namespace

TEST_CASE("at saturation the simulator sustains the analytic Λ_max within 5 %") {
  struct variant {
    const char* name;
    std::function<void(sim::scenario&)> edit;
  };
  const std::vector<variant> variants = {
      {"the case study", [](sim::scenario&) {}},
      // The link binds the PrfaaS side: 8 Gbps between the clusters.
      {"a thin link", [](sim::scenario& s) { s.link_gbps = 8; }},
      // Shorter prompts, longer answers, a bigger local cluster: a different balance.
      {"long answers", [](sim::scenario& s) { s.mu = 8.5; s.output_tokens = 2048; s.n_pd = 14; s.n_prfaas = 2; }},
  };
  for (const auto& v : variants) {
    auto s = case_study();
    v.edit(s);
    s.controller = false;   // steady state: t and the split stay at the plan
    s.rebalancer = false;
    const auto p = planned(s);
    sim::sim_options o;
    o.threshold = p.threshold;
    o.n_p = p.shape.n_p;
    const double rate = sim::saturation_rate(s, o, {0.5 * p.lambda_max, 1.5 * p.lambda_max, 10, 40000, 7, 0.02});
    INFO(v.name << ": planned Λ_max " << p.lambda_max << " req/s (t " << p.threshold << ", N_p " << p.shape.n_p
                << "), simulated saturation " << rate << " req/s");
    CHECK(rate / p.lambda_max == Approx(1.0).epsilon(0.05));
  }
}

TEST_CASE("a bandwidth collapse makes the router raise t: fewer, longer requests are offloaded") {
  auto s = case_study();
  s.rebalancer = false;
  s.link_schedule = {{3000, 3.0}};  // 100 Gbps, then 3 Gbps from t = 3000 s
  const auto p = planned(s);
  const auto w = sim::generate(s, 30000, 0.7 * p.lambda_max, 3);
  sim::sim_options o;
  o.threshold = p.threshold;
  o.n_p = p.shape.n_p;
  sched::request_checker checker(64);
  o.checker = &checker;
  const auto r = sim::simulate(s, w, o);
  CHECK(checker.violations().empty());
  CHECK(r.completed + r.rejected == 30000);
  double before = 0, after = 0, n_before = 0, n_after = 0, t_before = 0, t_after = 0;
  for (const auto& rec : r.records) {
    if (rec.arrival_s < 3000) { before += rec.offloaded; ++n_before; t_before = std::max(t_before, rec.threshold); }
    else if (rec.arrival_s > 4000) { after += rec.offloaded; ++n_after; t_after = std::max(t_after, rec.threshold); }
  }
  INFO("t " << p.threshold << " -> " << r.final_threshold << ", offloaded " << before / n_before << " -> " << after / n_after);
  CHECK(r.final_threshold > 1.3 * p.threshold);
  CHECK(t_after > t_before);
  CHECK(after / n_after < 0.5 * before / n_before);
  CHECK(r.threshold_moves >= 1);
}

TEST_CASE("the same seed gives the same report") {
  auto s = case_study();
  const auto p = planned(s);
  sim::sim_options o;
  o.threshold = p.threshold;
  o.n_p = p.shape.n_p;
  const auto a = sim::simulate(s, sim::generate(s, 5000, 3.0, 11), o);
  const auto b = sim::simulate(s, sim::generate(s, 5000, 3.0, 11), o);
  const auto c = sim::simulate(s, sim::generate(s, 5000, 3.0, 12), o);
  CHECK(a.ttft_p99_s == b.ttft_p99_s);
  CHECK(a.throughput_rps == b.throughput_rps);
  CHECK(a.offload_fraction == b.offload_fraction);
  CHECK(a.ttft_p99_s != c.ttft_p99_s);
}

TEST_CASE("a prefill-bound local cluster converts decode instances to prefill") {
  auto s = case_study();
  s.controller = false;
  s.n_prfaas = 0;          // everything prefills locally...
  s.link_gbps = 100;
  const auto w = sim::generate(s, 20000, 1.6, 5);
  sim::sim_options o;
  o.threshold = 1e9;
  o.n_p = 2;               // ...on too few prefill instances
  sched::request_checker checker(64);
  o.checker = &checker;
  const auto r = sim::simulate(s, w, o);
  CHECK(checker.violations().empty());
  CHECK(r.conversions >= 1);
  CHECK(r.final_n_p > 2);
  CHECK(r.final_n_p + r.final_n_d == s.n_pd);
}

TEST_CASE("an on/off workload keeps the mean rate but bunches arrivals") {
  auto s = case_study();
  s.arrival = "onoff";
  s.on_s = 10;
  s.off_s = 30;
  const auto w = sim::generate(s, 4000, 2.0, 1);
  CHECK(w.back().arrival_s / 4000 == Approx(0.5).epsilon(0.1));
  for (const auto& r : w) CHECK(std::fmod(r.arrival_s, 40.0) <= 10.0);
}

TEST_CASE("a trace replays with its prefix sharing: repeated block ids hit the cache") {
  const auto trace = sim::load_trace(PRFAAS_SOURCE_DIR "/tests/runtime/sim/mini_trace.jsonl");
  REQUIRE(trace.size() == 4);
  sim::prefix_cache cache(1000);
  std::vector<int> hits;
  for (const auto& r : trace) {
    hits.push_back(cache.match(r.blocks));
    cache.insert(r.blocks);
  }
  CHECK(hits == std::vector<int>{0, 1, 0, 3});
}

TEST_CASE("the prefix cache evicts the least recently used block at capacity") {
  sim::prefix_cache cache(2);
  const std::vector<uint32_t> a = {1, 2}, b = {3};
  cache.insert(a);
  CHECK(cache.match(std::vector<uint32_t>{1}) == 1);  // 1 is now the most recent
  cache.insert(b);                                    // evicts 2
  CHECK(cache.match(a) == 1);
  CHECK(cache.size() == 2);
}

TEST_CASE("a malformed trace line is reported with its line number") {
  CHECK_THROWS_WITH(sim::load_trace(PRFAAS_SOURCE_DIR "/tests/runtime/sim/bad_trace.jsonl"), Catch::Contains("bad_trace.jsonl:2:"));
}

TEST_CASE("a trace's uncached lengths subtract the prefix its earlier requests cached") {
  const auto trace = sim::load_trace(PRFAAS_SOURCE_DIR "/tests/runtime/sim/mini_trace.jsonl");
  // The first request (1,100 tokens) leaves only its two full blocks in the cache: the fourth
  // shares ids 0, 1, 2 with it but reuses 1,024 tokens, as a live cache would.
  CHECK(sim::uncached_lengths(trace, 1000, 512) == std::vector<double>{1100, 188, 300, 976});
  CHECK(sim::uncached_lengths(trace, 0, 512) == std::vector<double>{1100, 700, 300, 2000});
}

TEST_CASE("a seeded 10,000-request run of the control-plane core keeps every request invariant") {
  // The trace's shared prefixes, the threshold controller and the rebalancer all move the core:
  // every step is checked (each request ends exactly once, loads equal assignments).
  auto s = case_study();
  s.prefix_cache_blocks = 20000;
  s.rebalance_period_s = 120;
  s.control_period_s = 10;
  const auto p = planned(s);
  auto w = sim::generate(s, 10000, 0.95 * p.lambda_max, 42);
  // Give requests shared prefixes: a tenth of the prompt's blocks from one of 50 documents.
  for (size_t i = 0; i < w.size(); ++i) {
    const int blocks = w[i].input_tokens / s.block_tokens;
    for (int b = 0; b < blocks; ++b)
      w[i].blocks.push_back(b < blocks / 10 ? static_cast<uint32_t>((i % 50) * 1000 + b)
                                            : static_cast<uint32_t>(1000000 + i * 300 + b));
  }
  sim::sim_options o;
  o.threshold = p.threshold;
  o.n_p = p.shape.n_p;
  sched::request_checker checker;
  o.checker = &checker;
  const auto r = sim::simulate(s, w, o);
  INFO((checker.violations().empty() ? std::string("no violation") : checker.violations().front()));
  CHECK(checker.violations().empty());
  CHECK(checker.arrived() == 10000);
  CHECK(checker.ended() == 10000);
  CHECK(r.completed + r.rejected == 10000);
  CHECK(r.completed > 9900);
  CHECK(checker.steps() > 40000);
}

TEST_CASE("trace prompts share bytes exactly where the trace's block ids are shared") {
  sim::request a, b, c;
  a.input_tokens = 3 * 512;
  a.blocks = {7, 8, 9};
  b.input_tokens = 2 * 512 + 100;  // a partial third block
  b.blocks = {7, 8, 10};
  c.input_tokens = 512;
  c.blocks = {11};
  const auto pa = sim::trace_prompt(a, 32), pb = sim::trace_prompt(b, 32), pc = sim::trace_prompt(c, 32);
  CHECK(pa.size() == 48);
  CHECK(pb.size() == 36);  // ceil(1124 / 32)
  CHECK(pa.substr(0, 32) == pb.substr(0, 32));
  CHECK(pa.substr(32, 4) != pb.substr(32, 4));
  CHECK(pa.substr(0, 16) != pc);
  CHECK(sim::trace_prompt(a, 32) == pa);  // deterministic
  CHECK_THROWS(sim::trace_prompt(a, 3));
}

TEST_CASE("the hybrid rule in the simulated cache: a prefix is usable only up to a snapshot") {
  // Snapshots every 2 blocks and at the end of each inserted prompt's reusable part.
  sim::prefix_cache cache(100, {2, 0});
  const std::vector<uint32_t> a = {1, 2, 3, 4, 5};
  cache.insert(a, 5);                                         // snapshots at 2, 4, 5
  CHECK(cache.match(std::vector<uint32_t>{1, 2, 3, 9}) == 2);  // 3 blocks shared, state only at 2
  CHECK(cache.match(a) == 5);
  CHECK(cache.snapshots() == 3);
  // Capacity counts snapshots: 5 blocks + 3 snapshots x 2 = 11 > 10 evicts the last leaf.
  sim::prefix_cache small(10, {2, 2});
  small.insert(a, 5);
  CHECK(small.size() == 4);
  CHECK(small.match(a) == 4);
}

TEST_CASE("requests streamed from their source give the report the kept ones give, without keeping them") {
  auto s = case_study();
  const auto p = planned(s);
  sim::sim_options kept;
  kept.threshold = p.threshold;
  kept.n_p = p.shape.n_p;
  sim::sim_options streamed = kept;
  streamed.keep_records = false;
  const auto a = sim::simulate(s, sim::generate(s, 8000, 0.8 * p.lambda_max, 21), kept);
  sim::generated_source source(s, 8000, 0.8 * p.lambda_max, 21);
  const auto b = sim::simulate(s, source, streamed);
  CHECK(a.records.size() == 8000);
  CHECK(b.records.empty());
  CHECK(b.requests == 8000);
  CHECK(b.completed == a.completed);
  CHECK(b.duration_s == a.duration_s);
  CHECK(b.throughput_rps == a.throughput_rps);
  CHECK(b.ttft_mean_s == a.ttft_mean_s);
  CHECK(b.ttft_p50_s == a.ttft_p50_s);
  CHECK(b.ttft_p99_s == a.ttft_p99_s);
  CHECK(b.offload_fraction == a.offload_fraction);
  CHECK(b.util_decode == a.util_decode);
  CHECK(b.final_threshold == a.final_threshold);
  CHECK(b.flow_decode.left == a.flow_decode.left);
}

TEST_CASE("a generated source makes generate()'s requests, one at a time, and knows the last arrival first") {
  const auto s = case_study();
  const auto all = sim::generate(s, 3000, 2.5, 9);
  sim::generated_source source(s, 3000, 2.5, 9);
  CHECK(source.count() == 3000);
  CHECK(source.last_arrival_s() == all.back().arrival_s);
  sim::request r;
  for (const auto& want : all) {
    REQUIRE(source.next(r));
    CHECK(r.arrival_s == want.arrival_s);
    CHECK(r.input_tokens == want.input_tokens);
    CHECK(r.output_tokens == want.output_tokens);
  }
  CHECK_FALSE(source.next(r));
}

TEST_CASE("a PrfaaS instance's KV staging is bounded: on a starved link a full area stops its prefills and requests go elsewhere") {
  auto base = case_study();
  base.controller = false;  // t stays: only staging reacts
  base.rebalancer = false;
  base.link_gbps = 2;       // far below what the PrfaaS prefills produce
  const auto p = planned(case_study());
  sim::sim_options o;
  o.threshold = p.threshold;
  o.n_p = p.shape.n_p;
  const auto w = sim::generate(base, 4000, 0.8 * p.lambda_max, 17);
  auto bounded = base;
  bounded.staging_gib = 4;
  sched::request_checker checker(64);
  o.checker = &checker;
  const auto b = sim::simulate(bounded, w, o);
  CHECK(checker.violations().empty());
  o.checker = nullptr;
  const auto u = sim::simulate(base, w, o);
  INFO("unbounded: staging peak " << u.staging_peak_bytes / (1 << 30) << " GiB, offloaded " << u.offload_fraction
                                  << ", TTFT p90 " << u.ttft_p90_s << " s; bounded: peak "
                                  << b.staging_peak_bytes / (1 << 30) << " GiB, " << b.staging_waits << " waits, "
                                  << b.staging_wait_s << " s waiting, offloaded " << b.offload_fraction << ", TTFT p90 "
                                  << b.ttft_p90_s << " s");
  CHECK(b.completed == 4000);
  CHECK(u.completed == 4000);
  CHECK(u.staging_peak_bytes > 4.0 * (1 << 30));  // unbounded, the link's backlog piles up
  // Bounded: at most the area, or one batch's KV let into an empty one.
  CHECK(b.staging_peak_bytes <= std::max(4.0 * (1 << 30), bounded.prfaas.s_kv_bytes(bounded.prefill_token_budget)));
  CHECK(b.staging_waits > 0);
  CHECK(u.staging_waits == 0);
  CHECK(b.offload_fraction < u.offload_fraction);  // while full, long prompts fell back to local prefill
  CHECK(b.ttft_p90_s < u.ttft_p90_s);
}

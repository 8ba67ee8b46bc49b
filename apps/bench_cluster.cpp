#include "apps/bench_cluster.h"

#include <caf/all.hpp>
#include <nlohmann/json.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <mutex>
#include <thread>

#include "actors/client.hpp"
#include "apps/cli_support.h"
#include "apps/launcher.h"
#include "runtime/common/errc.h"
#include "runtime/config/deployment_config.h"
#include "runtime/profile/emulated_layout.h"
#include "runtime/policy/planner.h"
#include "runtime/sim/saturation.h"
#include "runtime/sim/simulator.h"
#include "runtime/sim/workload.h"

namespace prfaas::apps {
namespace {

using json = nlohmann::json;
using clock_type = std::chrono::steady_clock;
namespace fs = std::filesystem;

struct deployment_kind {
  std::string key, label;
  int n_prfaas = 0, n_p = 0, n_d = 0;
  double threshold = 0;      // tokens; above every prompt: all local
  double planned = 0;        // the planner's Λ_max, req/s
  bool homogeneous = false;  // every instance the local cluster's hardware
};

// One request's outcome in the profiles' time (seconds since the run's first arrival).
struct outcome {
  double arrival_s = 0, ttft_s = 0, finish_s = 0;
  bool ok = false, offloaded = false;
  int64_t kv_bytes = 0;
  std::string error;
};

// The sustained-throughput criterion, the same for the live run and the simulation of the same
// arrivals: every request completes, and TTFT does not grow through the run (the mean of the
// last quarter of arrivals within 1.5x that of the second quarter; the first is warm-up).
// A stage that falls behind makes its queue, and so TTFT, grow without bound.
bool keeps_up(const std::vector<outcome>& r) {
  if (r.size() < 8) return false;
  for (const auto& o : r)
    if (!o.ok) return false;
  auto mean = [&](size_t a, size_t b) {
    double s = 0;
    for (size_t i = a; i < b; ++i) s += r[i].ttft_s;
    return s / static_cast<double>(b - a);
  };
  const size_t q = r.size() / 4;
  return mean(3 * q, r.size()) <= 1.5 * mean(q, 2 * q);
}

std::vector<outcome> from_sim(const sim::sim_report& rep) {
  std::vector<outcome> out;
  for (const auto& rec : rep.records)
    out.push_back({rec.arrival_s, rec.ttft_s, rec.finish_s, !rec.rejected, rec.offloaded, 0, ""});
  return out;
}

struct summary {
  double ttft_mean = 0, p50 = 0, p90 = 0, p99 = 0, offload = 0, egress_gbps = 0;
};

summary summarize(const std::vector<outcome>& r, double kv_unscale) {
  summary s;
  std::vector<double> t;
  double offloaded = 0, kv = 0, first = 1e300, last = 0;
  for (const auto& o : r) {
    if (!o.ok) continue;
    t.push_back(o.ttft_s);
    offloaded += o.offloaded;
    if (o.offloaded) kv += static_cast<double>(o.kv_bytes);
    first = std::min(first, o.arrival_s);
    last = std::max(last, o.arrival_s);
  }
  if (t.empty()) return s;
  std::sort(t.begin(), t.end());
  auto pct = [&](double q) { return t[std::min(t.size() - 1, static_cast<size_t>(q * static_cast<double>(t.size())))]; };
  for (double x : t) s.ttft_mean += x / static_cast<double>(t.size());
  s.p50 = pct(0.5); s.p90 = pct(0.9); s.p99 = pct(0.99);
  s.offload = offloaded / static_cast<double>(t.size());
  s.egress_gbps = last > first ? kv * kv_unscale * 8 / 1e9 / (last - first) : 0;
  return s;
}

// A prompt of `tokens` bytes that shares no block with any other (requests of this workload
// reuse nothing; the scenario's log-normal lengths are uncached lengths).
std::string prompt_of(uint64_t salt, int tokens) {
  std::string p(static_cast<size_t>(tokens), ' ');
  uint64_t x = salt * 0x9e3779b97f4a7c15ULL + 1;
  for (auto& c : p) {
    x ^= x << 13; x ^= x >> 7; x ^= x << 17;
    c = static_cast<char>('a' + x % 26);
  }
  return p;
}

// Offers `w` to the live deployment open-loop: each request leaves at its arrival time (scaled)
// from a thread of its own, whatever the others wait for.
std::vector<outcome> run_live(caf::actor_system& sys, const caf::actor& router, const std::vector<sim::request>& w,
                              double time_scale, uint64_t salt,
                              clock_type::time_point t0 = clock_type::now() + std::chrono::milliseconds(200)) {
  std::vector<std::string> prompts(w.size());
  for (size_t i = 0; i < w.size(); ++i) prompts[i] = prompt_of(salt * 1000003 + i, w[i].input_tokens);
  std::vector<outcome> out(w.size());
  std::vector<std::thread> threads;
  threads.reserve(w.size());
  auto since = [&](clock_type::time_point t) { return std::chrono::duration<double>(t - t0).count() * time_scale; };
  for (size_t i = 0; i < w.size(); ++i) {
    std::this_thread::sleep_until(t0 + std::chrono::duration_cast<clock_type::duration>(
                                           std::chrono::duration<double>(w[i].arrival_s / time_scale)));
    threads.emplace_back([&, i] {
      auto& o = out[i];
      o.arrival_s = since(clock_type::now());
      auto r = actors::generate(sys, router, actors::generate_request{prompts[i], w[i].output_tokens, 0, {}},
                                std::chrono::minutes(10));
      o.finish_s = since(clock_type::now());
      if (!r) { o.error = actors::describe(r.error()); return; }
      o.ok = true;
      o.ttft_s = r->ttft_ms / 1000 * time_scale;
      o.offloaded = r->path == "prfaas";
      o.kv_bytes = r->kv_bytes;
    });
  }
  for (auto& t : threads) t.join();
  return out;
}

// The deployment's config: emulated engine on the scenario's profiles, t and the instance
// counts of the plan, the link's capacity scaled as the KV is.  The link is paced only for the
// collapse run: the case study's link is 12 % busy and binds nothing, and pacing splits it
// evenly among the PrfaaS nodes (a lone transfer gets a quarter of it), where the simulator's
// link is one shared FIFO.
std::string config_text(const sim::scenario& s, const deployment_kind& k, const bench_cluster_options& o,
                        double effective_kv_scale, bool controller) {
  const auto abs = [](const std::string& p) { return fs::absolute(p).lexically_normal().string(); };
  const int max_input = static_cast<int>(s.max_tokens), output = static_cast<int>(s.output_tokens);
  const int context = max_input + output + 64;
  const int blocks_per_sequence = 2 * ((context + 511) / 512);  // 2 full layers of 512-token blocks
  char text[2048];
  std::snprintf(text, sizeof text,
                "[engine]\nkind = \"emulated\"\nprofile = \"%s\"\nprofile_prfaas = \"%s\"\ntime_scale = %g\nkv_scale = %g\n"
                "max_context = %d\nseed = %llu\n"
                "[router]\nthreshold_tokens = %d\ndeadline_ms = 600000\nmax_in_flight = 20000\nqueue_max = 20000\n"
                "max_attempts = 3\ncontroller = %s\ncontroller_period_ms = %d\noutput_tokens = %d\n"
                "[node]\nkv_blocks = %d\nmax_sequences = %d\nprefill_token_budget = %d\n[cache]\nbudget_mib = 0\n"
                "[transport]\nlink_gbps = %g\nemulate_link = %s\nconnections = 2\nmax_inflight_mib = 64\n"
                "receive_timeout_ms = 20000\nresume_timeout_ms = 30000\n"
                "[gateway]\nenabled = false\n[deployment]\nprfaas_prefill = %d\nlocal_prefill = %d\ndecode = %d\n",
                abs(s.pd_path).c_str(), abs(k.homogeneous ? s.pd_path : s.prfaas_path).c_str(), o.time_scale, o.kv_scale, context,
                static_cast<unsigned long long>(o.seed), static_cast<int>(std::min(k.threshold, double(1 << 20))),
                controller ? "true" : "false", std::max(100, static_cast<int>(s.control_period_s * 1000 / o.time_scale)),
                output, blocks_per_sequence * 8, s.pd.bs_max, static_cast<int>(s.prefill_token_budget),
                s.link_gbps_at(0) * o.time_scale / effective_kv_scale, controller ? "true" : "false", k.n_prfaas, k.n_p,
                k.n_d);
  return text;
}

double engine_kv_scale(const sim::scenario& s, double kv_scale, int context) {
  return profile::make_emulated_layout(s.pd, kv_scale, context, "").effective_kv_scale;
}

int collapse(const sim::scenario& s, const deployment_kind& k, const bench_cluster_options& o, double kv_eff,
             const fs::path& dir);

// Completed requests per second of the profiles' time over a run: from its first arrival to its
// last completion.  At a rate the deployment sustains this is what it served, measured.
double completion_rate(const std::vector<outcome>& r) {
  double first = 1e300, last = 0;
  int done = 0;
  for (const auto& o : r) {
    first = std::min(first, o.arrival_s);
    if (!o.ok) continue;
    ++done;
    last = std::max(last, o.finish_s);
  }
  return done > 0 && last > first ? done / (last - first) : 0;
}

// The saturation probe over the offered rate (req/s in the profiles' time; sim::probe_rate),
// keeps_up the test, each run kept for the report: nothing is assumed of where the answer lies,
// so a deployment far from its plan is found where it is.
struct search {
  double sustained_at = 0;             // the highest offered rate that kept up (0: none did)
  double ceiling = 0;                  // the lowest that fell behind (0: none did, up to the probe's top)
  std::vector<outcome> at_sustained;   // that run's outcomes
  json steps = json::array();
};

template <class Run>
search probe(double start, int iterations, const std::string& what, Run&& run) {
  search r;
  const auto found = sim::probe_rate(start, iterations, [&](double rate) {
    auto out = run(rate);
    const bool ok = keeps_up(out);
    const auto sum = summarize(out, 1);
    int failed = 0;
    for (const auto& o : out) failed += !o.ok;
    std::fprintf(stderr, "  %s %.3f req/s: %s (TTFT mean %.2f s, P90 %.2f s, %d failed)\n", what.c_str(), rate,
                 ok ? "keeps up" : "falls behind", sum.ttft_mean, sum.p90, failed);
    r.steps.push_back({{"rate_rps", rate}, {"keeps_up", ok}, {"ttft_mean_s", sum.ttft_mean}, {"failed", failed},
                       {"completion_rps", completion_rate(out)}});
    if (ok && rate > r.sustained_at) {
      r.sustained_at = rate;
      r.at_sustained = std::move(out);
    }
    return ok;
  });
  r.ceiling = found.ceiling;
  return r;
}

json summary_json(const summary& s) {
  return {{"ttft_mean_s", s.ttft_mean}, {"ttft_p50_s", s.p50}, {"ttft_p90_s", s.p90}, {"ttft_p99_s", s.p99},
          {"offload_fraction", s.offload}};
}

void write_cdf(const fs::path& file, const std::vector<outcome>& r) {
  std::vector<double> t;
  for (const auto& o : r)
    if (o.ok) t.push_back(o.ttft_s);
  std::sort(t.begin(), t.end());
  std::ofstream out(file);
  out << "ttft_s,cdf\n";
  for (size_t i = 0; i < t.size(); ++i) out << t[i] << "," << double(i + 1) / static_cast<double>(t.size()) << "\n";
}

bool run_gnuplot(const fs::path& dir, const std::string& script) {
  std::ofstream(dir / "plots.gnuplot") << script;
  // Whatever gnuplot says goes to stderr: stdout carries the result (one JSON object with --json).
  const std::string cmd = "gnuplot '" + (dir / "plots.gnuplot").string() + "' 1>&2";
  if (std::system(cmd.c_str()) == 0) return true;
  std::cerr << "prfaas bench cluster: gnuplot failed or is missing (Debian package gnuplot-nox); CSVs are in " << dir << "\n";
  return false;
}

// A live deployment of one kind, up for as long as this object lives.
struct live_deployment {
  std::string state_dir;
  std::unique_ptr<launcher> l;
  std::unique_ptr<client_system> client;
  caf::actor router;
  live_deployment(const std::string& key, const std::string& text) {
    state_dir = (fs::temp_directory_path() / ("prfaas-bench-cluster-" + std::to_string(::getpid()) + "-" + key)).string();
    fs::remove_all(state_dir);
    fs::create_directories(state_dir);
    const std::string path = state_dir + "/config.toml";
    std::ofstream(path) << text;
    const auto config = config::load_config(path);
    l = std::make_unique<launcher>(executable_dir() + "/prfaas-node", state_dir + "/state", path, config);
    // The operator's certificate: the bench changes the link's rate (a collapse) as an operator would.
    const auto client_creds = l->prepare();
    client = std::make_unique<client_system>(
        config, client_creds.enabled() ? actors::deployment_credentials(state_dir + "/state", "operator") : client_creds);
    router = connect(client->sys, start_and_wait(*l, client->sys, config));
  }
  ~live_deployment() {
    router = nullptr;
    l->stop();
    client.reset();
    l.reset();
    if (!std::getenv("PRFAAS_BENCH_KEEP")) fs::remove_all(state_dir);
  }
};

int collapse(const sim::scenario& s, const deployment_kind& k, const bench_cluster_options& o, double kv_eff,
             const fs::path& dir) {
  const double rate = o.collapse_load * k.planned;
  sim::scenario sk = s;
  sk.n_prfaas = k.n_prfaas;
  sk.n_pd = k.n_p + k.n_d;
  const auto w = sim::generate(sk, o.requests, rate, o.seed);
  const double window = w.back().arrival_s, at = window / 3;  // profile seconds
  const double full = s.link_gbps_at(0);
  std::fprintf(stderr, "%s at %.3f req/s (%.0f %% of the planned Λ_max), %d requests over %.0f s; the link drops from "
               "%.0f to %.1f Gbps at %.0f s (profile time)\n", k.label.c_str(), rate, o.collapse_load * 100, o.requests,
               window, full, o.collapse_gbps, at);
  struct sample { double time_s, threshold, egress_gbps, capacity_gbps; int moves; };
  std::vector<sample> samples;
  std::vector<outcome> out;
  {
    live_deployment d("collapse", config_text(s, k, o, kv_eff, /*controller=*/true));
    const auto t0 = clock_type::now() + std::chrono::milliseconds(200);
    std::atomic<bool> done{false};
    std::thread sampler([&] {
      bool collapsed = false;
      while (!done) {
        const double now = std::chrono::duration<double>(clock_type::now() - t0).count() * o.time_scale;
        if (!collapsed && now >= at) {
          auto r = actors::link_control(d.client->sys, d.router, "rate", o.collapse_gbps * o.time_scale / kv_eff);
          if (!r) std::fprintf(stderr, "  link set failed: %s\n", actors::describe(r.error()).c_str());
          collapsed = true;
        }
        if (auto st = actors::status(d.client->sys, d.router); st && now >= 0)
          samples.push_back({now, double(st->threshold_tokens), st->prfaas_egress_gbps * kv_eff / o.time_scale,
                             collapsed ? o.collapse_gbps : full, st->threshold_moves});
        std::this_thread::sleep_for(std::chrono::milliseconds(250));
      }
    });
    out = run_live(d.client->sys, d.router, w, o.time_scale, 7, t0);
    done = true;
    sampler.join();
  }
  // The simulator on the same arrivals and the same collapse.
  sk.controller = true;
  sk.link_schedule = {{at, o.collapse_gbps}};
  sim::sim_options so;
  so.threshold = k.threshold;
  so.n_p = k.n_p;
  const auto sim_rep = sim::simulate(sk, w, so);

  auto phase = [&](double from, double to) {
    std::vector<outcome> p;
    for (const auto& r : out)
      if (r.arrival_s >= from && r.arrival_s < to) p.push_back(r);
    return summarize(p, kv_eff);
  };
  auto threshold_at = [&](double t) {
    double v = samples.empty() ? 0 : samples.front().threshold;
    for (const auto& x : samples)
      if (x.time_s <= t) v = x.threshold;
    return v;
  };
  int failed = 0;
  for (const auto& r : out) failed += !r.ok;
  const auto before = phase(0, at), during = phase(at, 2 * at), after = phase(2 * at, 1e300);
  const int moves = samples.empty() ? 0 : samples.back().moves;
  json j = {{"rate_rps", rate}, {"requests", out.size()}, {"failed", failed}, {"collapse_at_s", at},
            {"link_gbps", {full, o.collapse_gbps}}, {"threshold_before", threshold_at(at)},
            {"threshold_final", samples.empty() ? 0 : samples.back().threshold}, {"threshold_moves", moves},
            {"before", summary_json(before)}, {"during", summary_json(during)}, {"after", summary_json(after)},
            {"sim", {{"threshold_final", sim_rep.final_threshold}, {"threshold_moves", sim_rep.threshold_moves},
                     {"ttft_p90_s", sim_rep.ttft_p90_s}, {"offload_fraction", sim_rep.offload_fraction}}}};
  std::ofstream(dir / "collapse.json") << j.dump(2) << "\n";
  {
    std::ofstream csv(dir / "collapse_samples.csv");
    csv << "time_s,threshold_tokens,egress_gbps,capacity_gbps\n";
    for (const auto& x : samples) csv << x.time_s << "," << x.threshold << "," << x.egress_gbps << "," << x.capacity_gbps << "\n";
    std::ofstream req(dir / "collapse_requests.csv");
    req << "arrival_s,ttft_s,offloaded\n";
    for (const auto& r : out)
      if (r.ok) req << r.arrival_s << "," << r.ttft_s << "," << r.offloaded << "\n";
  }
  const std::string sf = (dir / "collapse_samples.csv").string(), rf = (dir / "collapse_requests.csv").string();
  run_gnuplot(dir, "set datafile separator ','\nset terminal png size 1000,900 noenhanced\nset output '" +
                       (dir / "collapse.png").string() + "'\nset multiplot layout 3,1\nset grid\nset key top left\n"
                       "set xrange [0:*]\nset title 'threshold t (tokens)'\nplot '" + sf +
                       "' using 1:2 every ::1 with steps lw 2 title 't'\n"
                       "set title 'PrfaaS egress (Gbps, profile scale)'\nset yrange [0:*]\nplot '" + sf +
                       "' using 1:3 every ::1 with lines lw 2 title 'egress', '' using 1:4 every ::1 with lines dt 2 title 'link capacity'\n"
                       "set title 'TTFT by arrival (s)'\nset xlabel 'time (s, profile scale)'\nplot '" + rf +
                       "' using 1:($3==1?$2:1/0) every ::1 with points pt 7 ps 0.5 title 'offloaded', '' using 1:($3==0?$2:1/0) "
                       "every ::1 with points pt 7 ps 0.5 title 'local'\nunset multiplot\n");
  if (o.json) {
    std::cout << j.dump(2) << std::endl;
  } else {
    std::printf("\nbandwidth collapse %.0f -> %.1f Gbps at %.0f s, %zu requests at %.3f req/s, %d failed\n", full,
                o.collapse_gbps, at, out.size(), rate, failed);
    std::printf("t: %.0f tokens before, %.0f at the end (%d moves; the simulator: %.0f, %d moves)\n", threshold_at(at),
                samples.empty() ? 0 : samples.back().threshold, moves, sim_rep.final_threshold, sim_rep.threshold_moves);
    std::printf("%-28s %9s %9s %9s\n", "arrivals", "offload", "TTFT P50", "TTFT P90");
    for (auto [name, x] : {std::pair{"before the collapse", before}, {"first third after", during}, {"last third", after}})
      std::printf("%-28s %9.3f %8.2fs %8.2fs\n", name, x.offload, x.p50, x.p90);
    std::printf("wrote %s (collapse.json, collapse.png, CSVs)\n", dir.string().c_str());
  }
  return failed == 0 ? 0 : 1;
}

}  // namespace

int bench_cluster(const bench_cluster_options& o) {
  sigset_t signals;
  block_signals(signals);
  auto s = sim::load_scenario(o.scenario);
  if (s.lengths != "lognormal") throw cli_error{"prfaas bench cluster: the scenario must generate its lengths (lognormal)"};
  s.controller = false;  // steady state: t and the split stay at the plan, live and simulated
  s.rebalancer = false;
  const auto lengths = policy::length_distribution::truncated_lognormal(s.mu, s.sigma, s.min_tokens, s.max_tokens);
  const policy::plan_input in{&s.prfaas, &s.pd, s.n_prfaas, s.n_pd, s.link_gbps_at(0), s.output_tokens, &lengths, 512};
  const auto best = policy::plan(in), homo = policy::plan_homogeneous(in, s.homogeneous_instances),
             naive = policy::plan_naive(in);
  std::vector<deployment_kind> kinds = {
      {"prfaas_pd", "PrfaaS-PD", best.shape.n_prfaas, best.shape.n_p, best.shape.n_d, best.threshold, best.lambda_max, false},
      {"homogeneous_pd", "homogeneous PD", 0, homo.shape.n_p, homo.shape.n_d, 1e9, homo.lambda_max, true},
      {"naive_heterogeneous", "naive heterogeneous", naive.shape.n_prfaas, 0, naive.shape.n_d, 0, naive.lambda_max, false},
  };
  const int context = static_cast<int>(s.max_tokens + s.output_tokens) + 64;
  const double kv_eff = engine_kv_scale(s, o.kv_scale, context);
  const fs::path dir(o.out_dir);
  fs::create_directories(dir);
  if (o.collapse) return collapse(s, kinds[0], o, kv_eff, dir);

  // "simulated": true when no live deployment ran (--sim-only): every figure is the simulator's,
  // and no field says live.
  json result = {{"scenario", s.path}, {"time_scale", o.time_scale}, {"kv_scale", kv_eff}, {"simulated", o.sim_only},
                 {"requests_per_rate", o.requests}, {"seed", o.seed}, {"deployments", json::object()}};
  uint64_t salt = 0;
  for (const auto& k : kinds) {
    if (!o.only.empty() && o.only != k.key) continue;
    sim::scenario sk = s;
    sk.n_prfaas = k.n_prfaas;
    sk.n_pd = k.n_p + k.n_d;
    sim::sim_options so;
    so.threshold = k.threshold;
    so.n_p = k.n_p;
    auto workload = [&](double rate) { return sim::generate(sk, o.requests, rate, o.seed); };
    std::fprintf(stderr, "%s: %d PrfaaS + %d prefill + %d decode instances, t = %.0f tokens, planned Λ_max %.3f req/s\n",
                 k.label.c_str(), k.n_prfaas, k.n_p, k.n_d, std::min(k.threshold, 1e7), k.planned);
    const auto sim_search = probe(k.planned, o.iterations, "simulated", [&](double rate) {
      return from_sim(sim::simulate(sk, workload(rate), so));
    });
    if (sim_search.sustained_at == 0)
      throw cli_error{"prfaas bench cluster: " + k.label + ": the simulator kept up with no offered rate down to " +
                      std::to_string(sim_search.ceiling) + " req/s"};
    const auto sim_at = from_sim(sim::simulate(sk, workload(sim_search.sustained_at), so));
    json j;
    j["planned_lambda_max"] = k.planned;
    j["instances"] = {{"prfaas", k.n_prfaas}, {"prefill", k.n_p}, {"decode", k.n_d}};
    j["threshold_tokens"] = std::min(k.threshold, 1e7);
    j["sim"] = summary_json(summarize(sim_at, 1));
    j["sim"]["sustained_rps"] = sim_search.sustained_at;
    j["sim"]["completion_rps"] = completion_rate(sim_at);
    j["sim"]["steps"] = sim_search.steps;
    if (!o.sim_only) {
      std::unique_ptr<live_deployment> d;
      try {
        d = std::make_unique<live_deployment>(k.key, config_text(s, k, o, kv_eff, false));
      } catch (const std::exception& e) {
        throw cli_error{"prfaas bench cluster: " + k.label + ": the deployment did not start: " + e.what()};
      }
      const auto live_search = probe(k.planned, o.iterations, "live", [&](double rate) {
        return run_live(d->client->sys, d->router, workload(rate), o.time_scale, ++salt);
      });
      // A number only for a deployment that served: at the rate it sustained, every request
      // completed (keeps_up), or it is an error that names it.
      if (live_search.sustained_at == 0) {
        int failed = 0;
        for (const auto& st : live_search.steps) failed = std::max(failed, st["failed"].get<int>());
        throw cli_error{"prfaas bench cluster: " + k.label + " kept up with no offered rate (lowest tried " +
                        std::to_string(live_search.ceiling) + " req/s; up to " + std::to_string(failed) + " of " +
                        std::to_string(o.requests) + " requests failed a run); its logs: PRFAAS_BENCH_KEEP=1 keeps them"};
      }
      const auto live_sum = summarize(live_search.at_sustained, kv_eff);
      json live = summary_json(live_sum);
      live["sustained_rps"] = live_search.sustained_at;
      live["completion_rps"] = completion_rate(live_search.at_sustained);
      live["egress_gbps"] = live_sum.egress_gbps;
      live["link_utilisation"] = k.n_prfaas ? live_sum.egress_gbps / s.link_gbps_at(0) : 0;
      live["steps"] = live_search.steps;
      j["live"] = live;
      j["live_over_sim"] = live_search.sustained_at / sim_search.sustained_at;
      write_cdf(dir / ("ttft_" + k.key + ".csv"), live_search.at_sustained);
    }
    result["deployments"][k.key] = j;
    write_cdf(dir / ("ttft_" + k.key + "_sim.csv"), sim_at);
  }
  auto& d = result["deployments"];
  if (d.contains("prfaas_pd") && d.contains("homogeneous_pd")) {
    if (!o.sim_only)
      result["live_ratio_vs_homogeneous"] = d["prfaas_pd"]["live"]["sustained_rps"].get<double>() /
                                            d["homogeneous_pd"]["live"]["sustained_rps"].get<double>();
    result["sim_ratio_vs_homogeneous"] = d["prfaas_pd"]["sim"]["sustained_rps"].get<double>() /
                                         d["homogeneous_pd"]["sim"]["sustained_rps"].get<double>();
  }
  std::ofstream(dir / "summary.json") << result.dump(2) << "\n";
  const auto live_rps = [&](const json& v) { return o.sim_only ? 0.0 : v["live"]["sustained_rps"].get<double>(); };
  {
    std::ofstream csv(dir / "throughput.csv");
    csv << "deployment,live_rps,sim_rps,planned_rps\n";
    for (auto& [key, v] : d.items())
      csv << key << "," << live_rps(v) << "," << v["sim"]["sustained_rps"].get<double>() << ","
          << v["planned_lambda_max"].get<double>() << "\n";
  }
  std::string script =
      "set datafile separator ','\nset terminal png size 1200,480 noenhanced\nset output '" + (dir / "cluster.png").string() +
      "'\nset multiplot layout 1,2\nset title 'Sustained throughput (req/s)'\nset style data histograms\n"
      "set style histogram clustered gap 1\nset style fill solid 0.8 border -1\nset yrange [0:*]\nset grid ytics\n"
      "set key top left\nplot '" + (dir / "throughput.csv").string() +
      (o.sim_only ? "' using 3:xtic(1) every ::1 title 'simulated', '' using 4 every ::1 title 'planned'\n"
                  : "' using 2:xtic(1) every ::1 title 'live', '' using 3 every ::1 title 'simulated', '' using 4 every ::1 "
                    "title 'planned'\n") +
      "set title 'TTFT CDF at the sustained rate (live thick, simulated thin)'\nset style data lines\n"
      "set xlabel 'TTFT (s)'\nset ylabel 'fraction of requests'\nset yrange [0:1]\nset key bottom right\nplot ";
  int n = 0;
  for (auto& [key, v] : d.items()) {
    if (n) script += ", ";
    const std::string f = (dir / ("ttft_" + key)).string();
    if (!o.sim_only) script += "'" + f + ".csv' using 1:2 every ::1 lw 3 lc " + std::to_string(n + 1) + " title '" + key + "', ";
    script += "'" + f + "_sim.csv' using 1:2 every ::1 lw 1 lc " + std::to_string(n + 1) +
              (o.sim_only ? " title '" + key + "'" : std::string(" notitle"));
    ++n;
  }
  script += "\nunset multiplot\n";
  run_gnuplot(dir, script);
  if (o.json) {
    std::cout << result.dump(2) << std::endl;
    return 0;
  }
  std::printf("\n%s, time scale %g, KV scale %.0f, %d requests per offered rate, seed %llu%s\n", s.path.c_str(),
              o.time_scale, kv_eff, o.requests, static_cast<unsigned long long>(o.seed),
              o.sim_only ? "\nSIMULATED ONLY (--sim-only): no live deployment ran; every figure is the simulator's" : "");
  // Sustained: the highest offered rate that kept up; served: completions per second measured there.
  std::printf("%-20s %10s %10s %10s %10s %9s %9s %8s %8s %8s %8s %8s\n", "deployment", "live r/s", "served r/s", "sim r/s",
              "live/sim", "planned", "TTFT avg", "P50", "P90", "P99", "offload", "egress");
  for (auto& [key, v] : d.items()) {
    const json& m = o.sim_only ? v["sim"] : v["live"];
    const auto live_col = [&](const char* field) {
      return o.sim_only ? std::string("-") : fmt::format("{:.3f}", v["live"][field].get<double>());
    };
    std::printf("%-20s %10s %10s %10.3f %10s %9.3f %8.2fs %7.2fs %7.2fs %7.2fs %8.3f %8s\n", key.c_str(),
                live_col("sustained_rps").c_str(), live_col("completion_rps").c_str(), v["sim"]["sustained_rps"].get<double>(),
                o.sim_only ? "-" : fmt::format("{:.3f}", v["live_over_sim"].get<double>()).c_str(),
                v["planned_lambda_max"].get<double>(), m["ttft_mean_s"].get<double>(), m["ttft_p50_s"].get<double>(),
                m["ttft_p90_s"].get<double>(), m["ttft_p99_s"].get<double>(), m["offload_fraction"].get<double>(),
                o.sim_only ? "-" : fmt::format("{:.1f}Gb", v["live"]["egress_gbps"].get<double>()).c_str());
  }
  if (result.contains("sim_ratio_vs_homogeneous")) {
    if (result.contains("live_ratio_vs_homogeneous"))
      std::printf("PrfaaS-PD / homogeneous PD: live %.3f, simulated %.3f\n", result["live_ratio_vs_homogeneous"].get<double>(),
                  result["sim_ratio_vs_homogeneous"].get<double>());
    else
      std::printf("PrfaaS-PD / homogeneous PD: simulated %.3f\n", result["sim_ratio_vs_homogeneous"].get<double>());
  }
  std::printf("wrote %s (summary.json, cluster.png, CSVs)\n", dir.string().c_str());
  return 0;
}

}  // namespace prfaas::apps

#include "apps/sim_commands.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "runtime/common/errc.h"
#include "runtime/policy/planner.h"
#include "runtime/sim/simulator.h"
#include "runtime/sim/workload.h"

namespace prfaas::apps {
namespace {

using json = nlohmann::json;
namespace fs = std::filesystem;

struct planned {
  policy::length_distribution lengths;
  policy::throughput_point best, homogeneous, naive;
};

policy::plan_input input_for(const sim::scenario& s, const policy::length_distribution& lengths) {
  return policy::plan_input{&s.prfaas, &s.pd, s.n_prfaas, s.n_pd, s.link_gbps_at(0), s.output_tokens, &lengths, 512};
}

planned plan_for(const sim::scenario& s, policy::length_distribution lengths) {
  planned p{std::move(lengths), {}, {}, {}};
  const auto in = input_for(s, p.lengths);
  p.best = policy::plan(in);
  p.homogeneous = policy::plan_homogeneous(in, s.homogeneous_instances);
  p.naive = policy::plan_naive(in);
  return p;
}

policy::length_distribution trace_lengths(const sim::scenario& s, const std::vector<sim::request>& trace) {
  return policy::length_distribution::empirical(sim::uncached_lengths(trace, s.prefix_cache_blocks, s.block_tokens,
                                                                         {s.snapshot_every_blocks, s.snapshot_cost_blocks}));
}

json point_json(const policy::throughput_point& p) {
  return {{"threshold_tokens", p.threshold}, {"n_prfaas", p.shape.n_prfaas}, {"n_p", p.shape.n_p},
          {"n_d", p.shape.n_d}, {"theta_prfaas", p.theta_prfaas}, {"theta_pd_p", p.theta_pd_p},
          {"theta_pd_d", p.theta_pd_d}, {"lambda_max", p.lambda_max}, {"offload_fraction", p.p},
          {"l_long", p.l_long}, {"l_short", p.l_short}, {"egress_gbps", p.egress_gbps},
          {"link_utilisation", p.link_utilisation}};
}

void print_plan(const sim::scenario& s, const planned& p) {
  const auto& o = p.best;
  std::printf("scenario %s: %d PrfaaS instances (%s), %d local PD instances (%s), link %.0f Gbps, mean uncached input %.0f tokens\n\n",
              s.path.c_str(), s.n_prfaas, s.prfaas.name.c_str(), s.n_pd, s.pd.name.c_str(), s.link_gbps_at(0), p.lengths.mean());
  std::printf("%-22s %14s %14s %14s\n", "", "PrfaaS-PD", "homogeneous PD", "naive hetero");
  auto row = [&](const char* name, auto f, const char* fmt) {
    std::printf("%-22s", name);
    for (const auto* x : {&p.best, &p.homogeneous, &p.naive}) {
      char buf[64];
      std::snprintf(buf, sizeof buf, fmt, f(*x));
      std::printf(" %14s", buf);
    }
    std::printf("\n");
  };
  row("threshold t (tokens)", [](auto& x) { return x.threshold; }, "%.0f");
  row("N_prfaas", [](auto& x) { return double(x.shape.n_prfaas); }, "%.0f");
  row("N_p", [](auto& x) { return double(x.shape.n_p); }, "%.0f");
  row("N_d", [](auto& x) { return double(x.shape.n_d); }, "%.0f");
  row("offload fraction p", [](auto& x) { return x.p; }, "%.3f");
  row("l_long (tokens)", [](auto& x) { return x.l_long; }, "%.0f");
  row("l_short (tokens)", [](auto& x) { return x.l_short; }, "%.0f");
  row("Θ_prfaas (req/s)", [](auto& x) { return x.theta_prfaas; }, "%.3f");
  row("Θ_pd-p (req/s)", [](auto& x) { return x.theta_pd_p; }, "%.3f");
  row("Θ_pd-d (req/s)", [](auto& x) { return x.theta_pd_d; }, "%.3f");
  row("Λ_max (req/s)", [](auto& x) { return x.lambda_max; }, "%.3f");
  row("egress (Gbps)", [](auto& x) { return x.egress_gbps; }, "%.2f");
  row("link utilisation", [](auto& x) { return x.link_utilisation; }, "%.3f");
  std::printf("\nPrfaaS-PD / homogeneous PD = %.3f   PrfaaS-PD / naive heterogeneous = %.3f\n",
              o.lambda_max / p.homogeneous.lambda_max, o.lambda_max / p.naive.lambda_max);
}

json plan_json(const planned& p) {
  json j = point_json(p.best);
  j["homogeneous"] = point_json(p.homogeneous);
  j["naive"] = point_json(p.naive);
  j["ratio_vs_homogeneous"] = p.best.lambda_max / p.homogeneous.lambda_max;
  j["ratio_vs_naive"] = p.best.lambda_max / p.naive.lambda_max;
  return j;
}

void write_plots(const fs::path& dir, const sim::sim_report& r) {
  {
    std::vector<double> ttft;
    for (const auto& rec : r.records)
      if (!rec.rejected) ttft.push_back(rec.ttft_s);
    std::sort(ttft.begin(), ttft.end());
    std::ofstream out(dir / "ttft_cdf.csv");
    out << "ttft_s,cdf\n";
    const size_t step = std::max<size_t>(1, ttft.size() / 2000);
    for (size_t i = 0; i < ttft.size(); i += step) out << ttft[i] << "," << double(i + 1) / ttft.size() << "\n";
  }
  {
    std::ofstream out(dir / "egress.csv");
    out << "time_s,egress_gbps,link_gbps,threshold_tokens\n";
    for (const auto& s : r.samples) out << s.time_s << "," << s.egress_gbps << "," << s.link_gbps << "," << s.threshold << "\n";
  }
  const std::string script =
      "set datafile separator ','\nset terminal png size 900,540\nset key bottom right\nset grid\n"
      "set output '" + (dir / "ttft_cdf.png").string() + "'\nset title 'TTFT CDF'\nset xlabel 'TTFT (s)'\n"
      "set ylabel 'fraction of requests'\nset logscale x\nplot '" + (dir / "ttft_cdf.csv").string() +
      "' using 1:2 every ::1 with lines lw 2 title 'TTFT'\nunset logscale x\n"
      "set output '" + (dir / "egress.png").string() + "'\nset title 'PrfaaS egress over time'\n"
      "set xlabel 'time (s)'\nset ylabel 'Gbps'\nset key top right\nset yrange [0:*]\nset offsets 0, 0, graph 0.12, 0\nplot '" + (dir / "egress.csv").string() +
      "' using 1:2 every ::1 with lines lw 2 title 'egress', '' using 1:3 every ::1 with lines dt 2 title 'link capacity'\n";
  std::ofstream(dir / "plots.gnuplot") << script;
  const std::string cmd = "gnuplot '" + (dir / "plots.gnuplot").string() + "' 2>&1";
  if (std::system(cmd.c_str()) != 0)
    std::cerr << "prfaas sim: gnuplot failed or is missing (Debian package gnuplot-nox); CSVs are in " << dir << "\n";
}

}  // namespace

int plan_command(const std::string& scenario_path, bool as_json) {
  const auto s = sim::load_scenario(scenario_path);
  planned p = s.lengths == "trace" ? plan_for(s, trace_lengths(s, sim::load_trace(s.trace)))
                                   : plan_for(s, policy::length_distribution::truncated_lognormal(
                                                     s.mu, s.sigma, s.min_tokens, s.max_tokens));
  if (as_json) std::cout << plan_json(p).dump(2) << std::endl;
  else print_plan(s, p);
  return 0;
}

int sim_command(const sim_command_options& o) {
  auto s = sim::load_scenario(o.scenario);
  if (!o.trace.empty()) {
    s.trace = o.trace;
    s.lengths = "trace";
    s.arrival = "trace";
  }
  if (o.seed) s.seed = o.seed;
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<sim::request> workload;  // a trace's, in memory
  std::unique_ptr<sim::request_source> source;
  std::optional<planned> p;
  if (s.arrival == "trace" || s.lengths == "trace") {
    workload = sim::load_trace(s.trace, o.requests > 0 ? static_cast<size_t>(o.requests) : SIZE_MAX);
    // Plan with the trace's own mean output length; each request keeps its own in the replay.
    double outputs = 0;
    for (const auto& r : workload) outputs += r.output_tokens;
    s.output_tokens = outputs / workload.size();
    p = plan_for(s, trace_lengths(s, workload));
    source = std::make_unique<sim::vector_source>(workload);
  } else {
    p = plan_for(s, policy::length_distribution::truncated_lognormal(s.mu, s.sigma, s.min_tokens, s.max_tokens));
    const double rate = s.rate > 0 ? s.rate : s.load * p->best.lambda_max;
    // Generated as they arrive: any count in fixed memory.
    source = std::make_unique<sim::generated_source>(s, o.requests > 0 ? o.requests : s.requests, rate, s.seed);
  }
  std::cerr << "prfaas sim: " << source->count() << " requests, planned t = " << p->best.threshold << " tokens, N_p = "
            << p->best.shape.n_p << ", N_d = " << p->best.shape.n_d << ", Λ_max = " << p->best.lambda_max << " req/s\n";
  sim::sim_options so;
  so.threshold = o.threshold >= 0 ? o.threshold : p->best.threshold;
  so.n_p = std::clamp(o.n_p > 0 ? o.n_p : p->best.shape.n_p, 1, s.n_pd - 1);
  int last_pct = -1;
  so.progress = [&](double f) {
    const int pct = static_cast<int>(f * 100);
    if (pct / 10 != last_pct / 10) std::cerr << "prfaas sim: " << pct << " % of arrivals\n";
    last_pct = pct;
  };
  // Per-request records only for the files that list them.
  so.keep_records = !o.out_dir.empty();
  const auto r = sim::simulate(s, *source, so);
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  json j = {{"requests", r.requests}, {"completed", r.completed}, {"rejected", r.rejected},
            {"duration_s", r.duration_s}, {"throughput_rps", r.throughput_rps}, {"ttft_mean_s", r.ttft_mean_s},
            {"ttft_p50_s", r.ttft_p50_s}, {"ttft_p90_s", r.ttft_p90_s}, {"ttft_p99_s", r.ttft_p99_s},
            {"tpot_s", r.tpot_s}, {"offload_fraction", r.offload_fraction}, {"cache_hit_rate", r.cache_hit_rate},
            {"egress_utilisation", r.egress_utilisation}, {"util_prfaas", r.util_prfaas},
            {"util_pd_prefill", r.util_pd_prefill}, {"util_decode", r.util_decode},
            {"initial_threshold", so.threshold}, {"final_threshold", r.final_threshold},
            {"threshold_moves", r.threshold_moves}, {"conversions", r.conversions},
            {"final_n_p", r.final_n_p}, {"final_n_d", r.final_n_d}, {"planned_lambda_max", p->best.lambda_max},
            {"staging_gib", s.staging_gib}, {"staging_peak_gib", r.staging_peak_bytes / double(1 << 30)},
            {"staging_waits", r.staging_waits}, {"staging_wait_s", r.staging_wait_s},
            {"wall_s", wall}};
  if (o.as_json) {
    std::cout << j.dump(2) << std::endl;
  } else {
    std::printf("requests %ld (completed %ld, rejected %ld) over %.0f s simulated, %.1f s wall\n", r.requests,
                r.completed, r.rejected, r.duration_s, wall);
    std::printf("throughput        %.3f req/s (planned Λ_max %.3f)\n", r.throughput_rps, p->best.lambda_max);
    std::printf("TTFT              mean %.2f s  P50 %.2f s  P90 %.2f s  P99 %.2f s\n", r.ttft_mean_s, r.ttft_p50_s,
                r.ttft_p90_s, r.ttft_p99_s);
    std::printf("TPOT              %.1f ms\n", r.tpot_s * 1000);
    std::printf("offloaded         %.1f %% of requests (t: %.0f -> %.0f tokens, %d moves)\n", r.offload_fraction * 100,
                p->best.threshold, r.final_threshold, r.threshold_moves);
    std::printf("egress            %.1f %% of link capacity over the run\n", r.egress_utilisation * 100);
    std::printf("prefix cache      %.1f %% of prompt tokens reused\n", r.cache_hit_rate * 100);
    std::printf("utilisation       PrfaaS prefill %.1f %%, local prefill %.1f %%, decode slots %.1f %%\n",
                r.util_prfaas * 100, r.util_pd_prefill * 100, r.util_decode * 100);
    std::printf("local instances   N_p %d, N_d %d (%d conversions)\n", r.final_n_p, r.final_n_d, r.conversions);
    std::printf("KV staging        peak %.2f GiB on one PrfaaS instance", r.staging_peak_bytes / double(1 << 30));
    if (s.staging_gib > 0)
      std::printf(" of %.2f, %ld waits for room, %.0f instance-s waiting\n", s.staging_gib, r.staging_waits, r.staging_wait_s);
    else
      std::printf(" (unbounded)\n");
  }
  if (!o.out_dir.empty()) {
    const fs::path dir(o.out_dir);
    fs::create_directories(dir);
    std::ofstream csv(dir / "requests.csv");
    csv << "arrival_s,input_tokens,uncached_tokens,output_tokens,offloaded,rejected,ttft_s,finish_s,threshold_tokens\n";
    for (const auto& rec : r.records)
      csv << rec.arrival_s << "," << rec.input_tokens << "," << rec.uncached_tokens << "," << rec.output_tokens << ","
          << rec.offloaded << "," << rec.rejected << "," << rec.ttft_s << "," << rec.finish_s << "," << rec.threshold << "\n";
    std::ofstream(dir / "summary.json") << j.dump(2) << "\n";
    write_plots(dir, r);
    std::cerr << "prfaas sim: wrote " << (dir / "requests.csv").string() << ", ttft_cdf.png, egress.png\n";
  }
  return 0;
}

}  // namespace prfaas::apps

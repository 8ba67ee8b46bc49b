// prfaas bench ..., netem up, plan, sim and replay: the commands that load, measure, emulate and
// model, each printing its figures.  They are prfaas-bench's (prfaas hands them over to it), so
// the deployment's own binaries build without them.
//
//   prfaas bench transport|wan|engine|tokenizer|cluster|tls|serve|idle|router ...
//   prfaas netem up ...                           an emulated WAN between two namespaces (root)
//   prfaas plan --scenario FILE [--json]          optimum and baselines of the throughput model
//   prfaas sim --scenario FILE [--trace F] [--requests N] [--seed S] [--out DIR] [--json]
//   prfaas replay --trace FILE [--scale-tokens K] [--requests N] [--concurrency C] [--outcomes F] [--json]
//                                                 a trace against the running deployment

#include <caf/all.hpp>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>
#include <map>
#include <vector>

#include "apps/bench_cluster.h"
#include "apps/bench_engine.h"
#include "apps/bench_router.h"
#include "apps/bench_serve.h"
#include "apps/bench_tokenizer.h"
#include "apps/bench_transport.h"
#include "apps/bench_wan.h"
#include "apps/commands.h"
#include "apps/launcher.h"
#include "apps/netem_command.h"
#include "apps/replay_command.h"
#include "apps/sim_commands.h"
#include "runtime/common/token_logprobs.h"
#include "runtime/sim/scenario.h"

namespace prfaas::apps {
namespace {

namespace fs = std::filesystem;

// `prfaas bench tls`: what mutual TLS on the actor plane costs a served request.  Two
// deployments from the same config, one with TLS and one --insecure, run one after the other
// (never at once: they would share the 2 cores); rounds alternate between them so that drift in
// the machine's load falls on both.  Each round sends the same short requests one at a time.
int cmd_bench_tls(const std::string& config_path, int rounds, int requests) {
  sigset_t signals;
  block_signals(signals);
  const auto config = load(config_path);
  std::map<bool, std::vector<double>> total_ms, ttft_ms;
  for (int round = 0; round < 2 * rounds; ++round) {
    const bool tls = round % 2 == 0;
    const std::string state_dir = fs::temp_directory_path() / ("prfaas-bench-tls-" + std::to_string(::getpid()));
    launcher l(executable_dir() + "/prfaas-node", state_dir, config_path, config, /*insecure=*/!tls);
    {
      client_system client(config, l.prepare());
      const endpoint router_at = start_and_wait(l, client.sys, config);
      auto router = connect(client.sys, router_at);
      for (int i = 0; i < requests; ++i) {
        const auto started = std::chrono::steady_clock::now();
        const auto r = remote_generate(client.sys, router, demo_prompt(i, 200), 8, 0);
        total_ms[tls].push_back(
            std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count());
        ttft_ms[tls].push_back(r.ttft_ms);
      }
      l.stop();
    }
    fs::remove_all(state_dir);
    std::fprintf(stderr, "round %d of %d (%s) done\n", round + 1, 2 * rounds, tls ? "TLS" : "plaintext");
  }
  auto pct = [](std::vector<double> v, double q) {
    std::sort(v.begin(), v.end());
    return v[std::min(v.size() - 1, static_cast<size_t>(q * static_cast<double>(v.size())))];
  };
  std::printf("served requests (200-byte prompts, 8 tokens, one at a time), %d per actor plane, alternating rounds\n",
              rounds * requests);
  std::printf("%-12s %12s %12s %12s %12s\n", "actor plane", "median ms", "p90 ms", "TTFT med ms", "TTFT p90 ms");
  for (const bool tls : {false, true})
    std::printf("%-12s %12.2f %12.2f %12.2f %12.2f\n", tls ? "mutual TLS" : "plaintext", pct(total_ms[tls], 0.5),
                pct(total_ms[tls], 0.9), pct(ttft_ms[tls], 0.5), pct(ttft_ms[tls], 0.9));
  std::printf("TLS / plaintext, median request: %.3f\n", pct(total_ms[true], 0.5) / pct(total_ms[false], 0.5));
  return 0;
}

// `prfaas bench idle`: what a running deployment costs while it serves nothing: each process's
// resident memory and the CPU it uses over a window (heartbeats, pollers and timers), from
// /proc (sample_process), for the deployment `prfaas up` keeps in --state (its supervisor, `up`,
// included).
int cmd_bench_idle(const std::string& state_dir, int seconds, bool as_json) {
  const auto st = read_state(state_dir);
  std::vector<std::pair<std::string, int>> processes;
  for (const auto& n : st.at("nodes")) processes.emplace_back(n.at("name").get<std::string>(), n.at("pid").get<int>());
  if (st.contains("up_pid")) processes.emplace_back("(prfaas up)", st.at("up_pid").get<int>());
  std::vector<process_sample> before;
  for (const auto& [name, pid] : processes) before.push_back(sample_process(pid));
  const auto t0 = std::chrono::steady_clock::now();
  std::this_thread::sleep_for(std::chrono::seconds(seconds));
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const double hz = static_cast<double>(::sysconf(_SC_CLK_TCK));
  json rows = json::array();
  double total_cpu = 0, total_rss = 0;
  if (!as_json) std::printf("%-22s %8s %10s   (idle, %d s)\n", "process", "RSS MiB", "CPU %core", seconds);
  for (size_t i = 0; i < processes.size(); ++i) {
    const auto after = sample_process(processes[i].second);
    const double cpu = 100.0 * static_cast<double>(after.ticks - before[i].ticks) / hz / wall;
    const double rss = after.rss_kib / 1024.0;
    total_cpu += cpu;
    total_rss += rss;
    rows.push_back({{"name", processes[i].first}, {"pid", processes[i].second}, {"rss_mib", rss}, {"cpu_percent", cpu}});
    if (!as_json) std::printf("%-22s %8.1f %10.2f\n", processes[i].first.c_str(), rss, cpu);
  }
  if (as_json)
    std::cout << json{{"seconds", wall}, {"processes", rows}, {"rss_mib", total_rss}, {"cpu_percent", total_cpu}}.dump(2)
              << std::endl;
  else
    std::printf("%-22s %8.1f %10.2f\n", "deployment", total_rss, total_cpu);
  return 0;
}

// The command's line in the help (one list for prfaas and prfaas-bench).
std::string about(const std::string& name) {
  for (const auto& [n, what] : bench_command_names())
    if (n == name) return what;
  return {};
}

}  // namespace

void add_bench_commands(CLI::App& app, cli_context& ctx) {
  auto& scenario = ctx.hold<std::string>();
  auto* plan = app.add_subcommand("plan", about("plan"));
  plan->add_option("--scenario", scenario, "scenario TOML file")->required();
  plan->add_flag("--json", ctx.as_json, "print one JSON object");
  plan->callback([&ctx, s = &scenario] { ctx.run = [&ctx, s] { return plan_command(*s, ctx.as_json); }; });

  auto& sim_opts = ctx.hold<sim_command_options>();
  auto* sim = app.add_subcommand("sim", about("sim"));
  sim->add_option("--scenario", sim_opts.scenario, "scenario TOML file")->required();
  sim->add_option("--trace", sim_opts.trace, "replay this trace (arrivals, lengths, prefixes)");
  sim->add_option("--requests", sim_opts.requests, "number of requests (default: the scenario's)")
      ->check(CLI::Range(1, sim::kMaxRequests));
  sim->add_option("--seed", sim_opts.seed, "random seed (default: the scenario's)");
  sim->add_option("--out", sim_opts.out_dir, "write requests.csv, summary.json and PNG plots here");
  sim->add_option("--threshold", sim_opts.threshold, "start from this t (tokens) instead of the planned one")
      ->check(CLI::Range(0.0, 1e9));
  sim->add_option("--n-p", sim_opts.n_p, "start with this many local prefill instances instead of the planned split");
  sim->add_flag("--json", sim_opts.as_json, "print one JSON object");
  sim->callback([&ctx, o = &sim_opts] { ctx.run = [o] { return sim_command(*o); }; });

  auto& netem_opts = ctx.hold<netem_options>();
  auto* netem = app.add_subcommand("netem", about("netem"));
  netem->require_subcommand(1);
  auto* netem_up = netem->add_subcommand("up", "make it and keep it until Ctrl-C or SIGTERM");
  netem_up->add_option("--name", netem_opts.name, "namespaces NAME-a and NAME-b");
  netem_up->add_option("--subnet", netem_opts.subnet, "addresses 10.SUBNET.0.1 (a) and .2 (b)")->check(CLI::Range(1, 254));
  netem_up->add_option("--rtt-ms", netem_opts.rtt_ms, "round trip")->check(CLI::Range(0.0, 20000.0));
  netem_up->add_option("--gbps", netem_opts.gbps, "rate each way (0: unlimited)")->check(CLI::Range(0.0, 1000.0));
  netem_up->add_option("--loss", netem_opts.loss, "probability a packet is lost, each way")->check(CLI::Range(0.0, 0.5));
  netem_up->add_option("--reorder", netem_opts.reorder, "probability a packet is held back 1 ms")->check(CLI::Range(0.0, 0.5));
  netem_up->add_option("--mtu", netem_opts.mtu, "of the TUN devices")->check(CLI::Range(576, 65000));
  netem_up->add_option("--queue-kib", netem_opts.queue_kib, "drop-tail queue (0: 50 ms at the rate)")->check(CLI::Range(0, 1 << 20));
  netem_up->callback([&ctx, o = &netem_opts] { ctx.run = [o] { return apps::netem_up(*o); }; });

  auto* bench = app.add_subcommand("bench", about("bench"));
  bench->require_subcommand(1);
  struct tls_options {
    int rounds = 3, requests = 20;
  };
  auto& tls_opts = ctx.hold<tls_options>();
  auto* bench_tls = bench->add_subcommand("tls", "a served request's latency with and without TLS on the actor plane");
  bench_tls->add_option("--config", ctx.config_path, "deployment TOML file");
  bench_tls->add_option("--rounds", tls_opts.rounds, "deployments of each kind, alternating")->check(CLI::Range(1, 20));
  bench_tls->add_option("--requests", tls_opts.requests, "requests per round")->check(CLI::Range(1, 1000));
  bench_tls->callback([&ctx, o = &tls_opts] {
    ctx.run = [&ctx, o] { return cmd_bench_tls(ctx.config_path, o->rounds, o->requests); };
  });

  auto& idle_seconds = ctx.hold<int>();
  idle_seconds = 20;
  auto* bench_idle = bench->add_subcommand("idle", "a running deployment at rest: each process's RSS and CPU over a window");
  bench_idle->add_option("--state", ctx.state_dir, "directory of the deployment (`prfaas up --state`)");
  bench_idle->add_option("--seconds", idle_seconds, "the window")->check(CLI::Range(1, 3600));
  bench_idle->add_flag("--json", ctx.as_json, "print one JSON object");
  bench_idle->callback([&ctx, n = &idle_seconds] {
    ctx.run = [&ctx, n] { return cmd_bench_idle(ctx.state_dir, *n, ctx.as_json); };
  });

  auto& router_opts = ctx.hold<bench_router_options>();
  auto* bench_router_cmd = bench->add_subcommand("router", "the control plane's cost: router CPU and system calls per "
                                                           "request under concurrent clients, beside the core alone");
  bench_router_cmd->add_option("--config", router_opts.config, "a deployment TOML with an emulated engine (its profiles "
                                                               "and node counts)");
  bench_router_cmd->add_option("--concurrency", router_opts.concurrency, "clients at once")->check(CLI::Range(1, 512));
  bench_router_cmd->add_option("--requests", router_opts.requests, "requests measured")->check(CLI::Range(1, 1000000));
  bench_router_cmd->add_option("--prompt-bytes", router_opts.prompt_bytes, "prompt length")->check(CLI::Range(1, 100000));
  bench_router_cmd->add_option("--max-tokens", router_opts.max_tokens, "tokens per request")->check(CLI::Range(1, 4096));
  bench_router_cmd->add_option("--cap", router_opts.cap, "hold the router to this share of one core (a cgroup; needs "
                               "root): its cost measured at saturation")->check(CLI::Range(0.05, 1.0));
  bench_router_cmd->add_option("--news-gap-ms", router_opts.news_gap_ms, "each node's news to the router: at most one "
                               "message per this many ms (node.news_gap_ms; default: the config's)")
      ->check(CLI::Range(0.0, 1000.0));
  bench_router_cmd->add_option("--kv-scale", router_opts.kv_scale, "the emulated KV this many times smaller than the "
                               "profile's (engine.kv_scale; default: the config's)")
      ->check(CLI::Range(1.0, 1e6));
  bench_router_cmd->add_flag("--direct", router_opts.direct, "each client asks the router itself, without the "
                             "process's door (the baseline: a message each way per request)");
  bench_router_cmd->add_flag("--json", router_opts.json, "print one JSON object");
  bench_router_cmd->callback([&ctx, o = &router_opts] { ctx.run = [o] { return bench_router(*o); }; });

  auto& serve_opts = ctx.hold<bench_serve_options>();
  auto* bench_serve = bench->add_subcommand("serve", "streaming requests through the HTTP gateway and the actor plane: "
                                                     "req/s, TTFT, inter-token latency, the gateway's added latency");
  bench_serve->add_option("--config", serve_opts.config, "deployment TOML file");
  bench_serve->add_option("--concurrency", serve_opts.concurrency, "requests in flight at once")->check(CLI::Range(1, 256));
  bench_serve->add_option("--requests", serve_opts.requests, "requests per path")->check(CLI::Range(1, 100000));
  bench_serve->add_option("--prompt-bytes", serve_opts.prompt_bytes, "prompt length (bytes = tokens)")->check(CLI::Range(1, 4000));
  bench_serve->add_option("--max-tokens", serve_opts.max_tokens, "output tokens per request")->check(CLI::Range(2, 4000));
  bench_serve->add_flag("--json", serve_opts.json, "print one JSON object");
  bench_serve->callback([&ctx, o = &serve_opts] { ctx.run = [o] { return apps::bench_serve(*o); }; });

  auto& cluster_opts = ctx.hold<bench_cluster_options>();
  auto* bench_cl = bench->add_subcommand("cluster", "the case study live: PrfaaS-PD vs homogeneous PD vs naive heterogeneous, "
                                                    "emulated engines, beside the simulator");
  bench_cl->add_option("--scenario", cluster_opts.scenario, "scenario TOML file")->required();
  bench_cl->add_option("--time-scale", cluster_opts.time_scale, "run the profiles this many times faster")
      ->check(CLI::Range(1.0, 100.0));
  bench_cl->add_option("--kv-scale", cluster_opts.kv_scale, "KV this many times smaller than the profile's")
      ->check(CLI::Range(16.0, 100000.0));
  bench_cl->add_option("--requests", cluster_opts.requests, "requests per offered rate")->check(CLI::Range(40, 100000));
  bench_cl->add_option("--iterations", cluster_opts.iterations, "bisection steps per deployment, once the probe has bracketed its sustained rate")->check(CLI::Range(1, 20));
  bench_cl->add_option("--seed", cluster_opts.seed, "seed of the arrivals and lengths");
  bench_cl->add_option("--only", cluster_opts.only, "run one deployment")
      ->check(CLI::IsMember({"prfaas_pd", "homogeneous_pd", "naive_heterogeneous"}));
  bench_cl->add_option("--out", cluster_opts.out_dir, "folder for summary.json, cluster.png and CSVs");
  bench_cl->add_flag("--json", cluster_opts.json, "print one JSON object");
  bench_cl->add_flag("--sim-only", cluster_opts.sim_only, "the simulator's side only: no processes, output marked simulated");
  bench_cl->add_flag("--collapse", cluster_opts.collapse, "instead: PrfaaS-PD with the live controller through a link collapse");
  bench_cl->add_option("--collapse-gbps", cluster_opts.collapse_gbps, "the link after the collapse (profile scale)")
      ->check(CLI::Range(0.1, 10000.0));
  bench_cl->add_option("--collapse-load", cluster_opts.collapse_load, "offered rate as a fraction of the planned Λ_max")
      ->check(CLI::Range(0.05, 1.5));
  bench_cl->callback([&ctx, o = &cluster_opts] { ctx.run = [o] { return apps::bench_cluster(*o); }; });

  auto& wan_opts = ctx.hold<bench_wan_options>();
  auto* bench_wan = bench->add_subcommand("wan", "the KV transport and iperf3 across an emulated WAN (root): "
                                                 "achieved against shaped rates, retransmits");
  bench_wan->add_option("--rtt-ms", wan_opts.rtt_ms, "round trip")->check(CLI::Range(0.0, 1000.0));
  bench_wan->add_option("--gbps", wan_opts.gbps, "shaped rate each way")->check(CLI::Range(0.001, 100.0));
  bench_wan->add_option("--loss", wan_opts.loss, "probability a packet is lost, each way")->check(CLI::Range(0.0, 0.2));
  bench_wan->add_option("--seconds", wan_opts.seconds, "measured, after one second of warm-up")->check(CLI::Range(1, 120));
  bench_wan->add_option("--mtu", wan_opts.mtu, "of the emulated link")->check(CLI::Range(576, 65000));
  bench_wan->add_option("--reps", wan_opts.reps, "runs of each tool per cell, taking turns; medians reported")
      ->check(CLI::Range(1, 20));
  bench_wan->add_flag("--table", wan_opts.table, "RTT 0 / 20 / 40 ms by loss 0 / 0.1 / 1 %");
  bench_wan->add_flag("--json", wan_opts.json, "print one JSON object (an array with --table)");
  bench_wan->callback([&ctx, o = &wan_opts] { ctx.run = [o] { return apps::bench_wan(*o); }; });

  auto& engine_opts = ctx.hold<bench_engine_options>();
  auto* bench_engine = bench->add_subcommand("engine", "a model's engine: prefill tokens/s and GFLOP/s against the "
                                                       "matrix-multiply library's peak, decode tokens/s by batch");
  bench_engine->add_option("--device", engine_opts.device, "cpu (no GPU engine computes these layers yet)");
  bench_engine->add_option("--model", engine_opts.model, "a checkpoint folder (default: the built-in seeded model)");
  bench_engine->add_option("--decode-steps", engine_opts.decode_steps, "steps per decode batch size")->check(CLI::Range(1, 4096));
  bench_engine->add_flag("--json", engine_opts.json, "print one JSON object");
  bench_engine->callback([&ctx, o = &engine_opts] { ctx.run = [o] { return apps::bench_engine(*o); }; });

  auto& tokenizer_opts = ctx.hold<bench_tokenizer_options>();
  auto* bench_tok = bench->add_subcommand("tokenizer", "the model's tokenizer on one core: encode and decode MB/s over 1 MB of mixed text");
  bench_tok->add_option("--tokenizer", tokenizer_opts.tokenizer, "a tokenizer.json (default: the Qwen3 test fixture)")
      ->check(CLI::ExistingFile);
  bench_tok->add_flag("--json", tokenizer_opts.json, "print one JSON object");
  bench_tok->callback([&ctx, o = &tokenizer_opts] { ctx.run = [o] { return apps::bench_tokenizer(*o); }; });

  auto& bench_opts = ctx.hold<bench_transport_options>();
  auto* bench_tx = bench->add_subcommand("transport", "KV transport vs plain send/recv, two processes on loopback");
  bench_tx->add_option("--csv", bench_opts.csv, "write block_bytes,connections,transport_gbps,raw_gbps (Gbit/s)");
  bench_tx->add_option("--reps", bench_opts.reps, "transfers per cell and method (median)")->check(CLI::Range(1, 100));
  bench_tx->add_option("--mib", bench_opts.total_mib, "MiB per transfer")->check(CLI::Range(8, 4096));
  auto* tx_serve = bench_tx->add_option("--serve", bench_opts.serve, "HOST:PORT: be the receiving end for a sender elsewhere");
  bench_tx->add_option("--connect", bench_opts.connect, "HOST:PORT of a receiver started with --serve")->excludes(tx_serve);
  bench_tx->callback([&ctx, o = &bench_opts] { ctx.run = [o] { return apps::bench_transport(*o); }; });

  auto& replay_opts = ctx.hold<replay_options>();
  auto* replay = app.add_subcommand("replay", about("replay"));
  replay->add_option("--trace", replay_opts.trace, "trace in the ../shared/traces format")->required();
  replay->add_option("--scale-tokens", replay_opts.scale_tokens, "trace tokens per prompt byte (divides 512)")
      ->check(CLI::IsMember({1, 2, 4, 8, 16, 32, 64, 128, 256, 512}));
  replay->add_option("--requests", replay_opts.requests, "the first N requests")->check(CLI::Range(1, 1000000));
  replay->add_option("--concurrency", replay_opts.concurrency, "requests in flight at once")->check(CLI::Range(1, 256));
  replay_opts.sampling.add_to(*replay);
  replay->add_option("--max-tokens", replay_opts.max_tokens, "cap on output tokens per request")->check(CLI::Range(1, 4096));
  replay->add_option("--logprobs", replay_opts.logprobs, "ask each output token's log-probability and its top N "
                                                         "(written with --outcomes; prfaas check compares them)")
      ->check(CLI::Range(0, kMaxTopLogprobs));
  replay->add_option("--router", ctx.router_flag, "HOST:PORT of the router (default: from --state)");
  replay->add_option("--state", ctx.state_dir, "directory for the deployment's state and logs");
  add_access_options(replay, ctx.access);
  replay->add_flag("--json", replay_opts.as_json, "print one JSON object");
  replay->add_option("--deadline-ms", replay_opts.deadline_ms, "each request's deadline")->check(CLI::Range(1, 3600000));
  replay->add_option("--outcomes", replay_opts.outcomes, "write every request's outcome here (JSON lines, for prfaas check)");
  replay->callback([&ctx, o = &replay_opts] {
    ctx.run = [&ctx, o] {
      const auto router_at = router_address(ctx.router_flag, ctx.state_dir);
      client_system client(config::deployment_config{}, client_tls(ctx.access));
      return replay_command(client.sys, router_at, *o);
    };
  });
}

}  // namespace prfaas::apps

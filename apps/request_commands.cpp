// prfaas generate, trace, metrics and check: requests to a running deployment (or, with
// generate --in-process, to the model in this process: the reference).
//
//   prfaas generate --prompt TEXT | --prompt-file F --max-tokens N [--json] [--stream] [--in-process]
//   prfaas trace ID [--json]                      one request's timeline
//   prfaas metrics                                the router's Prometheus page
//   prfaas check RUN --reference REF [--min-completed X]     a fault run's outcomes against a fault-free one
//                                                 (prfaas replay --outcomes writes them: bench_commands.cpp)

#include <caf/all.hpp>
#include <spdlog/spdlog.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <thread>

#include "apps/commands.h"
#include <climits>
#include <sstream>

#include "kernels/cpu/threads.h"
#include "runtime/common/errc.h"
#include "runtime/engine/engine.h"
#include "runtime/faults/outcome_check.h"
#include "runtime/kv/block_pool.h"
#include "runtime/model/generate.h"
#include "runtime/model/hybrid_model.h"
#include "runtime/model/tokenizer.h"
#include "runtime/text/stop_condition.h"

namespace prfaas::apps {
namespace {

namespace fs = std::filesystem;

actors::generate_result in_process(const config::deployment_config& config, const std::string& prompt, int max_tokens,
                                   const actors::decoding& how = {}) {
  try {
    const auto e = engine::make_engine(config, /*prfaas=*/false);
    const auto tokens = model::encode(prompt);
    kv::block_pool pool(config.model.block_bytes(),
                        config.model.blocks_for(static_cast<int>(tokens.size()) + max_tokens) * config.model.full_layers() + 1);
    const auto sampling = actors::sampling_of(how);
    text::stop_condition stop(nullptr, how.stop_ids, {});
    auto g = engine::generate(*e, pool, tokens, max_tokens, &sampling, &stop);
    actors::generate_result r;
    r.tokens = g.tokens;
    r.stopped = g.stopped;
    r.seed = how.seed;
    r.path = "in-process";
    r.ttft_ms = g.prefill_ms;
    r.total_ms = g.prefill_ms + g.decode_ms;
    r.tokens_per_s = g.decode_ms > 0 ? (g.tokens.size() - 1) * 1000.0 / g.decode_ms : 0;
    return r;
  } catch (const failure& f) {
    throw cli_error{std::string(to_string(f.code())) + ": " + f.what()};
  }
}

// "1,2,3" -> ids.
std::vector<int32_t> parse_ids(const std::string& text) {
  std::vector<int32_t> ids;
  std::stringstream in(text);
  std::string part;
  while (std::getline(in, part, ',')) {
    try {
      size_t used = 0;
      const long v = std::stol(part, &used);
      if (used != part.size() || v < 0 || v > INT32_MAX) throw std::invalid_argument(part);
      ids.push_back(static_cast<int32_t>(v));
    } catch (const std::exception&) {
      throw cli_error{"--prompt-ids: \"" + part + "\" is not a token id"};
    }
  }
  if (ids.empty()) throw cli_error{"--prompt-ids: no token ids"};
  return ids;
}

// Greedy generation with each step's top log-probabilities: the numbers the reference
// fixtures hold the engine to (tests/reference).
json in_process_steps(const config::deployment_config& config, const std::vector<int32_t>& prompt, int max_tokens,
                      int top) {
  try {
    const auto& c = config.model;
    const model::hybrid_model m(engine::load_weights(config));
    kv::block_pool pool(c.block_bytes(), c.blocks_for(static_cast<int>(prompt.size()) + max_tokens) * c.full_layers() + 1);
    json steps = json::array();
    std::vector<int32_t> tokens;
    for (const auto& step : model::greedy_with_logprobs(m, pool, prompt, max_tokens, top)) {
      json top_json = json::array();
      for (const auto& [id, p] : step.top) top_json.push_back({{"id", id}, {"logprob", p}});
      steps.push_back({{"token", step.token}, {"logprob", step.logprob}, {"top", top_json}});
      tokens.push_back(step.token);
    }
    return {{"model", config.engine.checkpoint() ? config.engine.model : std::string("built-in")},
            {"prompt_ids", prompt}, {"tokens", tokens}, {"steps", steps}};
  } catch (const failure& f) {
    throw cli_error{std::string(to_string(f.code())) + ": " + f.what()};
  }
}

// `prfaas trace ID`: one request's timeline from the router's recent requests.
// The router shows a request only to the certificate that submitted it, or an operator's: from a
// state directory the operator's, so any request can be inspected; with --cert, that one's own.
int cmd_trace(const client_access& access, const std::string& router_flag, uint64_t id, bool as_json) {
  const auto router_at = router_address(router_flag, access.state_dir);
  client_system client(config::deployment_config{}, client_tls(access, "operator"));
  auto router = connect(client.sys, router_at, 3);
  auto t = actors::trace(client.sys, router, id);
  if (!t) throw cli_error{actors::describe(t.error())};
  if (as_json) std::cout << sched::to_json(*t) << std::endl;
  else std::cout << sched::to_text(*t);
  return 0;
}

// `prfaas metrics`: the router's Prometheus page, as the gateway serves it at /metrics.
int cmd_metrics(const client_access& access, const std::string& router_flag) {
  const auto router_at = router_address(router_flag, access.state_dir);
  client_system client(config::deployment_config{}, client_tls(access));
  auto router = connect(client.sys, router_at, 3);
  auto page = actors::router_metrics(client.sys, router);
  if (!page) throw cli_error{actors::describe(page.error())};
  std::cout << *page;
  return 0;
}

// Every request of a fault run ended once, completed ones as in the fault-free run, none past
// its deadline, enough completed.  Exit 0 when all holds, 1 otherwise.
int cmd_check(const std::string& run_path, const std::string& reference_path, const faults::check_options& options,
              bool as_json) {
  std::map<std::string, std::vector<int32_t>> reference;
  std::map<std::string, std::vector<token_logprobs>> reference_logprobs;  // of those that asked for them
  for (const auto& o : faults::load_outcomes(reference_path)) {
    if (!o.completed) throw cli_error{"the reference run did not complete request " + o.id + " (" + o.error + ")"};
    reference[o.id] = o.tokens;
    if (!o.logprobs.empty()) reference_logprobs[o.id] = o.logprobs;
  }
  const auto r = faults::check_outcomes(faults::load_outcomes(run_path), reference, options, reference_logprobs);
  if (as_json) {
    std::cout << json{{"ok", r.ok()}, {"requests", r.requests}, {"completed", r.completed}, {"errors", r.errors},
                      {"lost", r.lost}, {"duplicated", r.duplicated}, {"wrong", r.wrong}, {"unnamed", r.unnamed},
                      {"hung", r.hung}, {"problems", r.problems}}.dump(2)
              << std::endl;
  } else {
    std::printf("%s: %d requests: %d completed, %d errors, %d lost, %d answered twice, %d wrong, %d unnamed, %d hung\n",
                r.ok() ? "ok" : "FAILED", r.requests, r.completed, r.errors, r.lost, r.duplicated, r.wrong, r.unnamed,
                r.hung);
    for (const auto& p : r.problems) std::printf("  %s\n", p.c_str());
  }
  return r.ok() ? 0 : 1;
}

struct generate_options {
  std::string prompt, prompt_file, prompt_ids_text;
  int max_tokens = 16, deadline_ms = 0, logprobs = 0;
  bool in_proc = false, stream = false;
  sampling_flags sampling;
};

int cmd_generate(cli_context& ctx, generate_options& g) {
  auto& prompt = g.prompt;
  const int max_tokens = g.max_tokens, deadline_ms = g.deadline_ms;
  const bool as_json = ctx.as_json;
  if (!g.prompt_file.empty()) {
    std::ifstream in(g.prompt_file, std::ios::binary);
    prompt.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  if (g.in_proc) {
    auto config = load(ctx.config_path, ctx.model_dir);
    kernels::cpu::set_compute_threads(config.node.threads);
    if (!g.prompt_ids_text.empty() || g.logprobs > 0) {
      const auto ids = g.prompt_ids_text.empty() ? model::encode(prompt) : parse_ids(g.prompt_ids_text);
      std::cout << dump(in_process_steps(config, ids, max_tokens, g.logprobs)) << std::endl;
      return 0;
    }
    print_result(in_process(config, prompt, max_tokens, g.sampling.decoding()), as_json);
    return 0;
  }
  const auto router_at = router_address(ctx.router_flag, ctx.state_dir);
  client_system client(config::deployment_config{}, client_tls(ctx.access));
  auto router = connect(client.sys, router_at);  // an unreachable router is reported at once
  // Retries within the request's deadline (the router's default when unset, 60 s here).
  const int budget_ms = deadline_ms > 0 ? deadline_ms : 60000;
  const actors::generate_request request{prompt, max_tokens, deadline_ms, {}, {}, {}, g.sampling.decoding()};
  if (g.stream) {  // tokens as they come, then the summary (no retries: one router)
    auto r = actors::generate_streaming(
        client.sys, router, request,
        [&](const std::vector<int32_t>& tokens) {
          if (!as_json) {
            std::cout << printable(model::decode(tokens));
            std::cout.flush();
          }
          return true;
        },
        std::chrono::milliseconds(budget_ms + 2000));
    if (!as_json) std::cout << std::endl;
    if (!r) throw cli_error{actors::describe(r.error())};
    if (as_json) print_result(*r, true);
    else print_result_summary(*r);
    return 0;
  }
  auto r = actors::generate_retrying(client.sys, router_at, request, std::chrono::milliseconds(budget_ms + 2000));
  if (!r) throw cli_error{actors::describe(r.error())};
  print_result(*r, as_json);
  return 0;
}

}  // namespace

void add_request_commands(CLI::App& app, cli_context& ctx) {
  auto& g = ctx.hold<generate_options>();
  auto* gen = app.add_subcommand("generate", "send one request and print its output");
  auto* prompt_opt = gen->add_option("--prompt", g.prompt, "prompt text");
  auto* prompt_file_opt = gen->add_option("--prompt-file", g.prompt_file, "read the prompt's bytes from this file")
                              ->check(CLI::ExistingFile);
  prompt_opt->excludes(prompt_file_opt);
  gen->add_option("--max-tokens", g.max_tokens, "tokens to generate")->required()->check(CLI::Range(1, 1 << 20));
  g.sampling.add_to(*gen);
  gen->add_flag("--json", ctx.as_json, "print one JSON object");
  gen->add_flag("--in-process", g.in_proc, "run the model in this process (the reference)");
  gen->add_flag("--stream", g.stream, "print the tokens as the decode node produces them")->excludes("--in-process");
  gen->add_option("--router", ctx.router_flag, "HOST:PORT of the router (default: from --state)");
  gen->add_option("--state", ctx.state_dir, "directory for the deployment's state and logs");
  add_access_options(gen, ctx.access);
  gen->add_option("--config", ctx.config_path, "deployment TOML file (for --in-process)");
  gen->add_option("--model", ctx.model_dir, "a checkpoint folder (for --in-process)")->needs("--in-process");
  gen->add_option("--prompt-ids", g.prompt_ids_text, "the prompt as token ids, comma-separated (for --in-process)")
      ->needs("--in-process")->excludes(prompt_opt, prompt_file_opt);
  gen->add_option("--logprobs", g.logprobs, "print each step's top N log-probabilities (for --in-process)")
      ->needs("--in-process")->check(CLI::Range(0, 20));
  gen->add_option("--deadline-ms", g.deadline_ms, "per-request deadline (default: the router's)")
      ->check(CLI::Range(1, 3600000));
  gen->callback([&ctx, gen, prompt_opt, o = &g] {
    if (o->prompt_file.empty() && prompt_opt->count() == 0 && gen->get_option("--prompt-ids")->count() == 0)
      throw CLI::RequiredError("--prompt, --prompt-file or --prompt-ids");
    ctx.run = [&ctx, o] { return cmd_generate(ctx, *o); };
  });

  auto& trace_id = ctx.hold<uint64_t>();
  auto* trace = app.add_subcommand("trace", "one request's timeline: queued, routed, prefill, KV sent and received, tokens");
  trace->add_option("id", trace_id, "the request's id (generate --json prints it as \"request\")")->required();
  trace->add_option("--router", ctx.router_flag, "HOST:PORT of the router (default: from --state)");
  trace->add_option("--state", ctx.state_dir, "directory for the deployment's state and logs");
  trace->add_flag("--json", ctx.as_json, "print one JSON object");
  add_access_options(trace, ctx.access);
  trace->callback([&ctx, id = &trace_id] {
    ctx.run = [&ctx, id] { return cmd_trace(ctx.access, ctx.router_flag, *id, ctx.as_json); };
  });

  auto* metrics_cmd = app.add_subcommand("metrics", "the router's metrics in Prometheus's text format");
  metrics_cmd->add_option("--router", ctx.router_flag, "HOST:PORT of the router (default: from --state)");
  metrics_cmd->add_option("--state", ctx.state_dir, "directory for the deployment's state and logs");
  add_access_options(metrics_cmd, ctx.access);
  metrics_cmd->callback([&ctx] { ctx.run = [&ctx] { return cmd_metrics(ctx.access, ctx.router_flag); }; });

  struct check_options {
    std::string run, reference;
    faults::check_options limits;
  };
  auto& ch = ctx.hold<check_options>();
  auto* check = app.add_subcommand("check", "check a fault run's request outcomes against a fault-free run's");
  check->add_option("run", ch.run, "outcomes of the run under faults (prfaas replay --outcomes)")->required();
  check->add_option("--reference", ch.reference, "outcomes of the same requests without faults")->required();
  check->add_option("--min-completed", ch.limits.min_completed, "fraction that must complete")->check(CLI::Range(0.0, 1.0));
  check->add_flag("--json", ctx.as_json, "print one JSON object");
  check->callback([&ctx, o = &ch] { ctx.run = [&ctx, o] { return cmd_check(o->run, o->reference, o->limits, ctx.as_json); }; });
}

}  // namespace prfaas::apps

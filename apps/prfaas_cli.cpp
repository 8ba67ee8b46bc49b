// prfaas: the command line.
//
//   prfaas up [--config FILE] [--state DIR]       launch a deployment on loopback (Ctrl-C stops it)
//   prfaas down [--state DIR]                     stop the deployment `up` started
//   prfaas status [--state DIR] [--json]          nodes and request counters
//   prfaas generate --prompt TEXT | --prompt-file F --max-tokens N [--json] [--in-process] [--router HOST:PORT]
//   prfaas demo [--config FILE]                   up, a mixed workload, a summary, down
//   prfaas plan --scenario FILE [--json]          optimum and baselines of the throughput model
//   prfaas sim --scenario FILE [--trace F] [--requests N] [--seed S] [--out DIR] [--json]
//   prfaas replay --trace FILE [--scale-tokens K] [--requests N] [--concurrency C] [--outcomes F] [--json]
//   prfaas check RUN --reference REF [--min-completed X]     a fault run's outcomes against a fault-free one
//                                                 a trace against the running deployment
//   prfaas chaos kill|stop|cont|term NODE... [--state DIR]   faults against a running deployment
//   prfaas chaos link cut|restore [--state DIR]               partition the inter-cluster link, or heal it
//   prfaas chaos link rate --gbps X [--state DIR]            collapse (or raise) its rate
//   prfaas bench transport [--csv FILE]           KV transport vs plain send/recv
//   prfaas bench cluster --scenario FILE          the case study live (emulated engines) beside the simulator
//
// Exit status: 0 success, 1 an operating error (the message names the cause), 2 bad usage.

#include <caf/all.hpp>
#include <caf/io/all.hpp>
#include <omp.h>
#include <fcntl.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/file.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <algorithm>
#include <climits>
#include <map>
#include <sstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "actors/client.hpp"
#include "actors/system_config.hpp"
#include "apps/cli_support.h"
#include "apps/launcher.h"
#include "apps/bench_cluster.h"
#include "apps/bench_serve.h"
#include "apps/netem_command.h"
#include "apps/bench_wan.h"
#include "apps/bench_engine.h"
#include "apps/bench_tokenizer.h"
#include "apps/bench_transport.h"
#include "apps/replay_command.h"
#include "runtime/faults/outcome_check.h"
#include "apps/sim_commands.h"
#include "runtime/sim/scenario.h"
#include "runtime/common/errc.h"
#include "runtime/security/pki.h"
#include "runtime/engine/engine.h"
#include "runtime/model/checkpoint.h"
#include "runtime/model/checkpoint_init.h"
#include "runtime/model/generate.h"
#include "runtime/model/hybrid_model.h"
#include "runtime/model/tokenizer.h"
#include "runtime/text/model_text.h"
#include "runtime/text/stop_condition.h"

using namespace prfaas;
using json = nlohmann::json;
namespace fs = std::filesystem;

using apps::cli_error;
using apps::client_system;
using apps::connect;
using apps::start_and_wait;
using apps::block_signals;
using apps::demo_prompt;

namespace {

// The deployment's config; `model_dir` (--model) points it at a checkpoint folder.
config::deployment_config load(const std::string& path, const std::string& model_dir = "") {
  try {
    auto c = path.empty() ? config::deployment_config{} : config::load_config(path);
    if (!model_dir.empty()) config::use_model(c, model_dir);
    return c;
  } catch (const failure& f) {
    throw cli_error{f.what()};
  }
}

std::string state_file(const std::string& dir) { return dir + "/deployment.json"; }

// The deployment state `prfaas up` wrote, or an empty object.
json read_state_if_any(const std::string& dir) {
  std::ifstream in(state_file(dir));
  if (!in) return json::object();
  json j = json::parse(in, nullptr, false);
  return j.is_object() ? j : json::object();
}

json read_state(const std::string& dir) {
  std::ifstream in(state_file(dir));
  if (!in) throw cli_error{"no running deployment found (" + state_file(dir) + " is missing); start one with `prfaas up`"};
  try {
    return json::parse(in);
  } catch (const json::exception& e) {
    throw cli_error{"unreadable deployment state " + state_file(dir) + ": " + e.what()};
  }
}

// Text for a terminal: printable ASCII as is, everything else as \xNN.
std::string printable(const std::string& bytes) {
  std::string out;
  for (unsigned char c : bytes) {
    if (c == '\n' || (c >= 0x20 && c < 0x7f)) out.push_back(static_cast<char>(c));
    else { char buf[8]; std::snprintf(buf, sizeof buf, "\\x%02x", c); out += buf; }
  }
  return out;
}

json result_json(const actors::generate_result& r) {
  json j;
  j["text"] = model::decode(r.tokens);
  j["tokens"] = r.tokens;
  j["path"] = r.path;
  j["prefill_node"] = r.prefill_node;
  j["decode_node"] = r.decode_node;
  j["ttft_ms"] = r.ttft_ms;
  j["tokens_per_s"] = r.tokens_per_s;
  j["total_ms"] = r.total_ms;
  j["kv_bytes"] = r.kv_bytes;
  j["cached_tokens"] = r.cached_tokens;
  j["uncached_tokens"] = r.uncached_tokens;
  j["cache_source"] = r.cache_source.empty() ? "none" : r.cache_source;
  j["request"] = r.request;
  j["finish_reason"] = r.stopped ? "stop" : "length";
  j["seed"] = r.seed;
  if (r.timeline.request != 0) j["timeline"] = json::parse(sched::to_json(r.timeline));
  return j;
}

std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

void print_result_summary(const actors::generate_result& r);

void print_result(const actors::generate_result& r, bool as_json) {
  if (as_json) { std::cout << dump(result_json(r)) << std::endl; return; }
  std::cout << printable(model::decode(r.tokens)) << std::endl;
  print_result_summary(r);
}

void print_result_summary(const actors::generate_result& r) {
  std::fprintf(stderr, "[%s path, prefill %s, decode %s, ttft %.1f ms, %.1f tokens/s, %lld KV bytes, %d cached tokens (%s)]\n",
               r.path.c_str(), r.prefill_node.c_str(), r.decode_node.c_str(), r.ttft_ms, r.tokens_per_s,
               static_cast<long long>(r.kv_bytes), r.cached_tokens, r.cache_source.empty() ? "none" : r.cache_source.c_str());
}

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

int cmd_model_init(const std::string& config_file, const std::string& out, model::init_options o) {
  try {
    std::ifstream in(config_file, std::ios::binary);
    const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const auto c = model::parse_hf_config(text, config_file);
    const auto t0 = std::chrono::steady_clock::now();
    if (!o.tokenizer_dir.empty()) {
      // The model stops where its tokenizer says a turn ends: the eos and pad tokens' ids, as
      // the Qwen checkpoints' generation_config.json lists them.
      const auto t = text::load_model_text(o.tokenizer_dir, c.vocab);
      for (const auto& token : {t.eos_token, t.pad_token})
        if (const auto id = token.empty() ? std::nullopt : t.tok->id_of(token))
          if (std::find(o.eos_token_ids.begin(), o.eos_token_ids.end(), *id) == o.eos_token_ids.end())
            o.eos_token_ids.push_back(*id);
    }
    model::write_checkpoint(out, c, o);
    const auto written = model::checkpoint::open(out);  // what was written reads back, validated
    std::printf("%s: %s, %d layers, %.1f M parameters, %s, %.1f MiB, content hash %s (%.1f s)\n", out.c_str(),
                model::name(c.arch), c.n_layers, c.weight_count() / 1e6, o.type == model::dtype::bf16 ? "bf16" : "f32",
                written.file_bytes() / 1048576.0, written.config().weights_hash.c_str(),
                std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    return 0;
  } catch (const failure& f) {
    throw cli_error{f.what()};
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

// How a command reaches the actor plane: the deployment's client certificate from --state (or
// --ca/--cert/--key for a deployment elsewhere), or plaintext when the deployment was started
// with --insecure (its state says so) or --insecure is given.
struct client_access {
  std::string state_dir = ".prfaas";
  actors::tls_files tls;
  bool insecure = false;
};

// `as`: the certificate a command needs from the state directory (client; operator for the
// commands that change the deployment).
actors::tls_files client_tls(const client_access& a, const std::string& as = "client") {
  if (a.insecure) return {};
  if (a.tls.enabled()) return a.tls;
  auto tls = actors::deployment_credentials(a.state_dir, as);
  if (fs::exists(tls.ca)) return tls;
  if (fs::exists(state_file(a.state_dir)) && read_state(a.state_dir).value("insecure", false)) return {};
  throw cli_error{"no credentials for the deployment's actor plane: `prfaas up --state DIR` keeps them in DIR/pki "
                  "(pass --state DIR), `prfaas certs` issues them for another host (pass --ca, --cert, --key); "
                  "a deployment started with --insecure takes --insecure"};
}

void add_access_options(CLI::App* cmd, client_access& a) {
  auto* ca = cmd->add_option("--ca", a.tls.ca, "the deployment's CA certificate (default: STATE/pki/ca.pem)");
  auto* cert = cmd->add_option("--cert", a.tls.certificate, "a client certificate issued by `prfaas certs`");
  auto* key = cmd->add_option("--key", a.tls.key, "its private key");
  ca->needs(cert, key);
  cert->needs(ca, key);
  key->needs(ca, cert);
  cmd->add_flag("--insecure", a.insecure, "plaintext actor plane (a deployment started with --insecure)")
      ->excludes(ca, cert, key);
}

endpoint router_address(const std::string& flag, const std::string& state_dir) {
  try {
    return parse_endpoint(flag.empty() ? read_state(state_dir).at("router").get<std::string>() : flag);
  } catch (const failure& f) {
    throw cli_error{f.what()};
  } catch (const json::exception& e) {
    throw cli_error{"deployment state has no router address: " + std::string(e.what())};
  }
}

actors::generate_result remote_generate(caf::actor_system& sys, const caf::actor& router, const std::string& prompt,
                                        int max_tokens, int deadline_ms) {
  actors::generate_request req{prompt, max_tokens, deadline_ms, {}};
  const int wait_ms = (deadline_ms > 0 ? deadline_ms : 60000) + 5000;
  auto r = actors::generate(sys, router, req, std::chrono::milliseconds(wait_ms));
  if (!r) throw cli_error{actors::describe(r.error())};
  return *r;
}

int cmd_up(const std::string& config_path, const std::string& model_dir, const std::string& state_dir, bool insecure,
           const std::string& host) {
  sigset_t signals;
  block_signals(signals);
  auto config = load(config_path, model_dir);
  fs::create_directories(state_dir);
  // One `up` per state directory: a second one, even at the same instant, is refused before it
  // touches the first's credentials, logs or state (the lock goes with this process).
  const int lock_fd = ::open((state_dir + "/up.lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (lock_fd < 0 || ::flock(lock_fd, LOCK_EX | LOCK_NB) != 0)
    throw cli_error{"another `prfaas up` holds " + state_dir + " (" + state_dir + "/up.lock); `prfaas down` first"};
  if (fs::exists(state_file(state_dir))) {
    const auto st = read_state(state_dir);
    const int pid = st.value("up_pid", 0);
    if (pid > 0 && ::kill(pid, 0) == 0)
      throw cli_error{"a deployment is already running from " + state_dir + " (pid " + std::to_string(pid) + "); `prfaas down` first"};
  }
  std::unique_ptr<apps::launcher> made;
  try {
    made = std::make_unique<apps::launcher>(apps::executable_dir() + "/prfaas-node", state_dir, config_path, config,
                                            insecure, host);
  } catch (const failure& f) {
    throw cli_error{f.what()};
  }
  auto& l = *made;
  if (insecure) std::cerr << "prfaas up: warning: --insecure: the actor plane is plaintext and unauthenticated\n";
  actors::tls_files creds;
  try {
    creds = l.prepare();
  } catch (const failure& f) {
    throw cli_error{f.what()};
  }
  client_system client(config, creds);
  const endpoint router_at = start_and_wait(l, client.sys, config);
  const bool gateway_here = host.empty() || host == config.deployment.router_host;
  const auto gateway_at = gateway_here ? l.gateway() : std::nullopt;
  auto write_state = [&] {
    json st;
    st["router"] = router_at.str();
    if (gateway_at) st["gateway"] = std::string(config.gateway.tls ? "https://" : "http://") + gateway_at->str() + "/v1";
    st["insecure"] = insecure;
    st["up_pid"] = ::getpid();
    for (const auto& n : l.nodes())
      st["nodes"].push_back({{"name", n.name}, {"role", n.role}, {"cluster", n.cluster}, {"pid", n.pid}, {"log", n.log}});
    std::ofstream(state_file(state_dir) + ".tmp") << st.dump(2) << "\n";
    fs::rename(state_file(state_dir) + ".tmp", state_file(state_dir));
  };
  write_state();
  std::cout << "prfaas deployment up" << (host.empty() ? "" : " on host " + host) << ": router at " << router_at.str()
            << ", " << l.nodes().size() << " nodes (logs in " << state_dir << "/logs); Ctrl-C or `prfaas down` stops it"
            << std::endl;
  if (gateway_at)
    std::cout << "OpenAI-compatible API at " << (config.gateway.tls ? "https://" : "http://") << gateway_at->str() << "/v1 (model "
              << config::served_model_name(config) << ")" << std::endl;
  for (;;) {
    timespec tick{0, 100'000'000};
    const int sig = sigtimedwait(&signals, nullptr, &tick);
    if (sig == SIGINT || sig == SIGTERM) break;
    // Nodes that exit are restarted (the state file follows their new pids).
    const auto events = l.supervise();
    for (const auto& line : events) std::cerr << "prfaas up: " << line << std::endl;
    if (!events.empty()) write_state();
  }
  std::cout << "stopping the deployment" << std::endl;
  l.stop();
  fs::remove(state_file(state_dir));
  return 0;
}

// Sends a node of the running deployment a fault: kill (SIGKILL: dies, `up` restarts it), stop
// (SIGSTOP: hangs until cont), cont (SIGCONT), term (SIGTERM: drains and leaves).
// The emulated PrfaaS -> local link: cut, restore, or rate (X Gbps in all).
int cmd_chaos_link(const client_access& access, const std::vector<std::string>& args, double gbps) {
  const auto& state_dir = access.state_dir;
  if (args.size() != 1 || (args[0] != "cut" && args[0] != "restore" && args[0] != "rate"))
    throw cli_error{"usage: prfaas chaos link cut|restore|rate [--gbps X]"};
  if (args[0] == "rate" && !(gbps > 0)) throw cli_error{"prfaas chaos link rate needs --gbps X (X > 0)"};
  client_system client(config::deployment_config{}, client_tls(access, "operator"));
  auto router = connect(client.sys, router_address("", state_dir), 3);
  auto n = actors::link_control(client.sys, router, args[0], gbps);
  if (!n) throw cli_error{actors::describe(n.error())};
  std::cout << "prfaas chaos: link " << args[0];
  if (args[0] == "rate") std::cout << " " << gbps << " Gbps";
  std::cout << " (" << *n << " PrfaaS prefill nodes)" << std::endl;
  return 0;
}

int cmd_chaos(const client_access& access, const std::string& action, const std::vector<std::string>& names,
              double gbps) {
  if (action == "link") return cmd_chaos_link(access, names, gbps);
  const auto& state_dir = access.state_dir;
  if (names.empty()) throw cli_error{"prfaas chaos " + action + " needs at least one node name"};
  static const std::map<std::string, int> signals = {
      {"kill", SIGKILL}, {"stop", SIGSTOP}, {"cont", SIGCONT}, {"term", SIGTERM}};
  const auto sig = signals.find(action);
  if (sig == signals.end()) throw cli_error{"unknown fault '" + action + "' (expected kill, stop, cont, term or link)"};
  const auto st = read_state(state_dir);
  for (const auto& name : names) {
    int pid = -1;
    for (const auto& n : st.at("nodes"))
      if (n.at("name") == name) pid = n.at("pid").get<int>();
    if (pid <= 0) throw cli_error{"no running node named '" + name + "' in " + state_dir};
    if (::kill(pid, sig->second) != 0) throw cli_error{"cannot signal " + name + " (pid " + std::to_string(pid) + ")"};
    std::cout << "prfaas chaos: " << action << " " << name << " (pid " << pid << ")" << std::endl;
  }
  return 0;
}

// Every request of a fault run ended once, completed ones as in the fault-free run, none past
// its deadline, enough completed.  Exit 0 when all holds, 1 otherwise.
int cmd_check(const std::string& run_path, const std::string& reference_path, const faults::check_options& options,
              bool as_json) {
  std::map<std::string, std::vector<int32_t>> reference;
  for (const auto& o : faults::load_outcomes(reference_path)) {
    if (!o.completed) throw cli_error{"the reference run did not complete request " + o.id + " (" + o.error + ")"};
    reference[o.id] = o.tokens;
  }
  const auto r = faults::check_outcomes(faults::load_outcomes(run_path), reference, options);
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

int cmd_down(const std::string& state_dir) {
  const auto st = read_state(state_dir);
  const int pid = st.value("up_pid", 0);
  if (pid <= 0 || ::kill(pid, SIGTERM) != 0) {
    fs::remove(state_file(state_dir));
    throw cli_error{"the deployment in " + state_dir + " is not running (stale state removed)"};
  }
  for (int waited = 0; waited < 15000; waited += 50) {
    if (::kill(pid, 0) != 0 || !fs::exists(state_file(state_dir))) {
      std::cout << "prfaas deployment stopped" << std::endl;
      return 0;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  throw cli_error{"the deployment (pid " + std::to_string(pid) + ") did not stop within 15 s"};
}

int cmd_status(const client_access& access, const std::string& router_flag, bool as_json) {
  const auto router_at = router_address(router_flag, access.state_dir);
  client_system client(config::deployment_config{}, client_tls(access));
  auto router = connect(client.sys, router_at, 3);
  auto s = actors::status(client.sys, router);
  if (!s) throw cli_error{actors::describe(s.error())};
  json j;
  j["router"] = router_at.str();
  if (auto st = read_state_if_any(access.state_dir); st.contains("gateway")) j["gateway"] = st["gateway"];
  j["completed"] = s->completed;
  j["failed"] = s->failed;
  j["in_flight"] = s->in_flight;
  j["threshold_tokens"] = s->threshold_tokens;
  j["threshold_moves"] = s->threshold_moves;
  j["offload_share_last_minute"] = s->offload_share;
  j["completed_last_minute"] = s->recent_completed;
  j["conversions"] = s->conversions;
  j["prfaas_egress_gbps"] = s->prfaas_egress_gbps;
  j["link_gbps"] = s->link_gbps;
  j["link_utilisation"] = s->link_gbps > 0 ? s->prfaas_egress_gbps / s->link_gbps : 0.0;
  j["links"] = json::array();
  for (const auto& l : s->links)
    j["links"].push_back({{"node", l.node}, {"prfaas", l.prfaas}, {"egress_gbps", l.egress_gbps},
                          {"capacity_gbps", l.capacity_gbps}, {"bytes_in_flight", l.bytes_in_flight},
                          {"links", l.links}, {"connections", l.connections}, {"rtt_us", l.rtt_us},
                          {"retransmits", l.retransmits}, {"cwnd", l.cwnd}, {"delivery_rate_bps", l.delivery_rate_bps},
                          {"bdp_bytes", l.bdp_bytes}, {"wanted_connections", l.wanted_connections}});
  j["nodes"] = json::array();
  for (const auto& n : s->nodes)
    j["nodes"].push_back({{"name", n.name}, {"role", n.role}, {"cluster", n.cluster}, {"data_endpoint", n.data_endpoint}});
  auto hit_rate = [](const actors::cache_stats& c) { return c.lookups ? double(c.hits) / c.lookups : 0.0; };
  j["caches"] = json::array();
  for (const auto& c : s->caches)
    j["caches"].push_back({{"node", c.node}, {"bytes", c.bytes}, {"blocks", c.blocks}, {"snapshots", c.snapshots},
                           {"lookups", c.lookups}, {"hits", c.hits}, {"hit_rate", hit_rate(c)},
                           {"hit_tokens", c.hit_tokens}, {"lookup_tokens", c.lookup_tokens}, {"evictions", c.evictions}});
  if (as_json) { std::cout << dump(j) << std::endl; return 0; }
  std::printf("router %s: %lld completed, %lld failed, %lld in flight\n", router_at.str().c_str(),
              static_cast<long long>(s->completed), static_cast<long long>(s->failed), static_cast<long long>(s->in_flight));
  if (j.contains("gateway")) std::printf("gateway %s (OpenAI-compatible HTTP API)\n", j["gateway"].get<std::string>().c_str());
  std::printf("threshold t = %d tokens (%d moves by the live controller); last minute: %d completed, %.0f %% offloaded\n",
              s->threshold_tokens, s->threshold_moves, s->recent_completed, 100 * s->offload_share);
  for (const auto& n : s->nodes) std::printf("  %-18s %-16s cluster %s\n", n.name.c_str(), n.role.c_str(), n.cluster.c_str());
  if (s->link_gbps > 0)
    std::printf("PrfaaS egress %.3f Gbps of a %.3f Gbps link (%.1f %% utilised)\n", s->prfaas_egress_gbps, s->link_gbps,
                100 * s->prfaas_egress_gbps / s->link_gbps);
  for (const auto& l : s->links)
    std::printf("  %-18s egress %8.3f Gbps  links %d x %d conn (path wants %d, BDP %.0f KiB)  in flight %lld B  "
                "rtt %u us  retrans %u  cwnd %u\n",
                l.node.c_str(), l.egress_gbps, l.links, l.links ? l.connections / l.links : 0, l.wanted_connections,
                l.bdp_bytes / 1024, static_cast<long long>(l.bytes_in_flight), l.rtt_us, l.retransmits, l.cwnd);
  if (!s->caches.empty()) std::printf("prefix caches:\n");
  for (const auto& c : s->caches)
    std::printf("  %-18s %8.1f MiB  %5lld blocks  %4lld snapshots  hit rate %5.1f %% (%lld of %lld)  %lld evictions\n",
                c.node.c_str(), c.bytes / 1048576.0, static_cast<long long>(c.blocks), static_cast<long long>(c.snapshots),
                100 * hit_rate(c), static_cast<long long>(c.hits), static_cast<long long>(c.lookups),
                static_cast<long long>(c.evictions));
  return 0;
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

// Issues NAME's certificate from the deployment's CA into OUT (with the CA's certificate, to
// verify peers against): what a node on another host, or a client, needs to join.
int cmd_certs(const std::string& state_dir, const std::string& name, const std::string& role, const std::string& out) {
  auto ca = security::certificate_authority::open(state_dir + "/pki");
  const auto files = ca.issue({name, role}, out);
  fs::copy_file(ca.certificate_path(), out + "/ca.pem", fs::copy_options::overwrite_existing);
  std::cout << "issued " << role << " certificate for " << name << ": " << files.certificate << ", key " << files.key
            << " (0600), CA " << out << "/ca.pem" << std::endl;
  std::cout << "  prfaas-node --role=" << role << " --ca=" << out << "/ca.pem --cert=" << files.certificate
            << " --key=" << files.key << " ..." << std::endl;
  return 0;
}

// The demo's model: a checkpoint in the published layout, generated once (prfaas model init's
// code) and kept under .prfaas/models; a folder that no longer reads back is made again.
std::string demo_model() {
  const std::string source = PRFAAS_SOURCE_DIR "/configs/models/qwen3-next-80b-a3b-scaled.json";
  const std::string dir = ".prfaas/models/qwen3-next-80b-a3b-scaled-seed1";
  try {
    model::checkpoint::open(dir, false);
    return dir;
  } catch (const failure&) {
  }
  std::cout << "== generating the demo's checkpoint (once): " << dir << " from " << source << std::endl;
  std::ifstream in(source, std::ios::binary);
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  model::init_options o;
  o.seed = 1;
  o.type = model::dtype::bf16;
  try {
    model::write_checkpoint(dir, model::parse_hf_config(text, source), o);
  } catch (const failure& f) {
    throw cli_error{f.what()};
  }
  return dir;
}

int cmd_demo(const std::string& config_path, std::string model_dir, bool insecure) {
  sigset_t signals;
  block_signals(signals);
  if (model_dir.empty() && load(config_path).engine.kind == "tiny") model_dir = demo_model();
  auto config = load(config_path, model_dir);
  const std::string state_dir = fs::temp_directory_path() / ("prfaas-demo-" + std::to_string(::getpid()));
  if (config.engine.checkpoint())
    std::cout << "== model: " << config.engine.model << " (" << model::name(config.model.arch) << ", "
              << config.model.n_layers << " layers, " << config.model.weight_count() / 1e6 << " M parameters, "
              << (config.model.experts ? std::to_string(config.model.experts) + " experts" : std::string("dense")) << ")"
              << std::endl;
  std::cout << "== prfaas demo: starting a deployment on loopback (" << config.deployment.prfaas_prefill
            << " PrfaaS prefill, " << config.deployment.local_prefill << " local prefill, " << config.deployment.decode
            << " decode nodes; threshold t = " << config.router.threshold_tokens << " tokens)" << std::endl;
  apps::launcher l(apps::executable_dir() + "/prfaas-node", state_dir, config_path, config, insecure);
  client_system client(config, l.prepare());
  const endpoint router_at = start_and_wait(l, client.sys, config);
  auto router = connect(client.sys, router_at);
  std::cout << "router at " << router_at.str() << ", " << l.nodes().size() << " processes ready" << std::endl;
  if (const auto gw = l.gateway()) {
    const std::string model = config::served_model_name(config);
    std::cout << "OpenAI-compatible API at http://" << gw->str() << "/v1 (model " << model
              << "); while the demo runs, try:\n  curl -s http://" << gw->str()
              << "/v1/chat/completions -H 'Content-Type: application/json' -d '{\"model\": \"" << model
              << "\", \"messages\": [{\"role\": \"user\", \"content\": \"Hello\"}], \"max_tokens\": 8}'"
              << std::endl;
  }

  // Short and long prompts interleaved; two clients at a time so both paths run concurrently.
  const std::vector<int> lengths = {120, 2400, 300, 1800, 80, 3000, 500, 2048, 200, 1500};
  const int max_tokens = 24;
  std::vector<actors::generate_result> results(lengths.size());
  std::vector<std::string> errors(lengths.size());
  const auto reference = engine::make_engine(config, /*prfaas=*/false);
  std::printf("\n%-4s %-7s %-7s %-16s %-9s %9s %9s %10s  %s\n", "req", "prompt", "path", "prefill node", "decode",
              "TTFT ms", "tok/s", "KV bytes", "= in-process");
  for (size_t i = 0; i < lengths.size(); i += 2) {
    std::vector<std::thread> clients;
    for (size_t j = i; j < std::min(i + 2, lengths.size()); ++j)
      clients.emplace_back([&, j] {
        try {
          results[j] = remote_generate(client.sys, router, demo_prompt(static_cast<int>(j), lengths[j]), max_tokens, 0);
        } catch (const cli_error& e) {
          errors[j] = e.message;
        }
      });
    for (auto& t : clients) t.join();
    for (size_t j = i; j < std::min(i + 2, lengths.size()); ++j) {
      if (!errors[j].empty()) { std::printf("%-4zu %-7d error: %s\n", j, lengths[j], errors[j].c_str()); continue; }
      const auto& r = results[j];
      kv::block_pool pool(config.model.block_bytes(), config.model.blocks_for(lengths[j] + max_tokens) * config.model.full_layers());
      const bool same = engine::generate(*reference, pool, model::encode(demo_prompt(static_cast<int>(j), lengths[j])), max_tokens).tokens == r.tokens;
      std::printf("%-4zu %-7d %-7s %-16s %-9s %9.1f %9.1f %10lld  %s\n", j, lengths[j], r.path.c_str(), r.prefill_node.c_str(),
                  r.decode_node.c_str(), r.ttft_ms, r.tokens_per_s, static_cast<long long>(r.kv_bytes), same ? "yes" : "NO");
    }
  }
  struct path_stats { int n = 0; double ttft = 0, tps = 0; long long kv = 0; };
  std::map<std::string, path_stats> by_path;
  int failed = 0, mismatched = 0;
  for (size_t j = 0; j < results.size(); ++j) {
    if (!errors[j].empty()) { ++failed; continue; }
    auto& p = by_path[results[j].path];
    ++p.n; p.ttft += results[j].ttft_ms; p.tps += results[j].tokens_per_s; p.kv += results[j].kv_bytes;
  }
  std::printf("\n%-8s %9s %13s %13s %14s\n", "path", "requests", "mean TTFT ms", "mean tok/s", "KV bytes moved");
  for (auto& [path, p] : by_path)
    std::printf("%-8s %9d %13.1f %13.1f %14lld\n", path.c_str(), p.n, p.ttft / p.n, p.tps / p.n, p.kv);
  (void)mismatched;
  std::cout << "\n== stopping the deployment" << std::endl;
  l.stop();
  fs::remove_all(state_dir);
  if (failed) throw cli_error{std::to_string(failed) + " demo requests failed"};
  return 0;
}

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
    apps::launcher l(apps::executable_dir() + "/prfaas-node", state_dir, config_path, config, /*insecure=*/!tls);
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

}  // namespace

int main(int argc, char** argv) {
  ::signal(SIGPIPE, SIG_IGN);
  spdlog::set_level(spdlog::level::warn);
  CLI::App app{"prfaas: Prefill-as-a-Service runtime"};
  app.set_version_flag("--version", "prfaas " PRFAAS_VERSION);
  app.require_subcommand(1);
  std::string config_path, state_dir = ".prfaas", router_flag, prompt, model_dir;
  int max_tokens = 16, deadline_ms = 0;
  bool as_json = false, in_proc = false, insecure = false;
  client_access access;

  auto* up = app.add_subcommand("up", "launch a deployment from one config file as local processes");
  up->add_option("--config", config_path, "deployment TOML file");
  up->add_option("--model", model_dir, "a checkpoint folder every node loads (engine.kind = \"hf\")");
  up->add_option("--state", state_dir, "directory for the deployment's state and logs");
  up->add_flag("--insecure", insecure, "plaintext, unauthenticated actor plane (testing only; logs a warning)");
  std::string up_host;
  up->add_option("--host", up_host,
                 "across hosts: start only the nodes the config places on this one of its [hosts] (the router's "
                 "host first; the others share or copy its STATE/pki and STATE/secret)");
  auto* down = app.add_subcommand("down", "stop the deployment started by `prfaas up`");
  down->add_option("--state", state_dir, "directory for the deployment's state and logs");
  auto* status = app.add_subcommand("status", "show the running deployment's nodes and counters");
  status->add_option("--state", state_dir, "directory for the deployment's state and logs");
  status->add_option("--router", router_flag, "HOST:PORT of the router (default: from --state)");
  status->add_flag("--json", as_json, "print one JSON object");
  add_access_options(status, access);
  auto* model_cmd = app.add_subcommand("model", "model checkpoints");
  model_cmd->require_subcommand(1);
  auto* model_init = model_cmd->add_subcommand("init", "write a random-weight checkpoint in the published layout");
  std::string init_config, init_out, init_dtype = "f32", init_tokenizer;
  model::init_options init_opts;
  model_init->add_option("--config", init_config, "a config.json of a supported architecture")->required()->check(CLI::ExistingFile);
  model_init->add_option("--out", init_out, "the folder to write")->required();
  model_init->add_option("--seed", init_opts.seed, "seed of the weights");
  model_init->add_option("--dtype", init_dtype, "f32 or bf16")->check(CLI::IsMember({"f32", "bf16"}));
  model_init->add_option("--shard-mib", init_opts.shard_mib, "shards of at most this many MiB, with an index (0: one file)")
      ->check(CLI::Range(0, 1 << 20));
  model_init->add_option("--tokenizer", init_tokenizer, "copy tokenizer.json and tokenizer_config.json from this folder")
      ->check(CLI::ExistingDirectory);
  auto* gen = app.add_subcommand("generate", "send one request and print its output");
  std::string prompt_file;
  auto* prompt_opt = gen->add_option("--prompt", prompt, "prompt text");
  auto* prompt_file_opt = gen->add_option("--prompt-file", prompt_file, "read the prompt's bytes from this file")
                              ->check(CLI::ExistingFile);
  prompt_opt->excludes(prompt_file_opt);
  gen->callback([&] {
    if (prompt_file.empty() && prompt_opt->count() == 0 && gen->get_option("--prompt-ids")->count() == 0)
      throw CLI::RequiredError("--prompt, --prompt-file or --prompt-ids");
  });
  gen->add_option("--max-tokens", max_tokens, "tokens to generate")->required()->check(CLI::Range(1, 1 << 20));
  apps::sampling_flags sampling;
  sampling.add_to(*gen);
  gen->add_flag("--json", as_json, "print one JSON object");
  gen->add_flag("--in-process", in_proc, "run the model in this process (the reference)");
  bool stream = false;
  gen->add_flag("--stream", stream, "print the tokens as the decode node produces them")->excludes("--in-process");
  gen->add_option("--router", router_flag, "HOST:PORT of the router (default: from --state)");
  gen->add_option("--state", state_dir, "directory for the deployment's state and logs");
  add_access_options(gen, access);
  gen->add_option("--config", config_path, "deployment TOML file (for --in-process)");
  gen->add_option("--model", model_dir, "a checkpoint folder (for --in-process)")->needs("--in-process");
  std::string prompt_ids_text;
  int logprobs = 0;
  gen->add_option("--prompt-ids", prompt_ids_text, "the prompt as token ids, comma-separated (for --in-process)")
      ->needs("--in-process")->excludes(prompt_opt, prompt_file_opt);
  gen->add_option("--logprobs", logprobs, "print each step's top N log-probabilities (for --in-process)")
      ->needs("--in-process")->check(CLI::Range(0, 20));
  gen->add_option("--deadline-ms", deadline_ms, "per-request deadline (default: the router's)")
      ->check(CLI::Range(1, 3600000));
  uint64_t trace_id = 0;
  auto* trace = app.add_subcommand("trace", "one request's timeline: queued, routed, prefill, KV sent and received, tokens");
  trace->add_option("id", trace_id, "the request's id (generate --json prints it as \"request\")")->required();
  trace->add_option("--router", router_flag, "HOST:PORT of the router (default: from --state)");
  trace->add_option("--state", state_dir, "directory for the deployment's state and logs");
  trace->add_flag("--json", as_json, "print one JSON object");
  add_access_options(trace, access);
  auto* metrics_cmd = app.add_subcommand("metrics", "the router's metrics in Prometheus's text format");
  metrics_cmd->add_option("--router", router_flag, "HOST:PORT of the router (default: from --state)");
  metrics_cmd->add_option("--state", state_dir, "directory for the deployment's state and logs");
  add_access_options(metrics_cmd, access);
  auto* demo = app.add_subcommand("demo", "up, a short mixed workload, a summary table, down");
  demo->add_option("--config", config_path, "deployment TOML file");
  demo->add_option("--model", model_dir, "a checkpoint folder (default: a generated Qwen3-Next, kept in .prfaas/models)");
  demo->add_flag("--insecure", insecure, "plaintext, unauthenticated actor plane (to compare; logs a warning)");
  std::string scenario;
  auto* plan = app.add_subcommand("plan", "size a deployment with the throughput model; compare with baselines");
  plan->add_option("--scenario", scenario, "scenario TOML file")->required();
  plan->add_flag("--json", as_json, "print one JSON object");
  apps::sim_command_options sim_opts;
  auto* sim = app.add_subcommand("sim", "simulate a deployment driving the router's policy code");
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
  std::string chaos_action;
  std::vector<std::string> chaos_nodes;
  auto* link = app.add_subcommand("link", "the running deployment's emulated inter-cluster link");
  link->require_subcommand(1);
  auto* link_set = link->add_subcommand("set", "change the link's rate now (a bandwidth collapse, or its end)");
  double link_gbps = 0;
  link_set->add_option("--gbps", link_gbps, "the whole link's new rate")->required()->check(CLI::Range(1e-6, 1e4));
  link_set->add_option("--state", state_dir, "directory for the deployment's state and logs");
  add_access_options(link_set, access);
  auto* node_cmd = app.add_subcommand("node", "act on one node of the running deployment");
  node_cmd->require_subcommand(1);
  auto* convert = node_cmd->add_subcommand("convert", "change a local node's role between prefill and decode, in place");
  std::string convert_name, convert_to;
  convert->add_option("name", convert_name, "the node (prfaas status lists them)")->required();
  convert->add_option("--to", convert_to, "prefill | decode")->required()->check(CLI::IsMember({"prefill", "decode"}));
  convert->add_option("--state", state_dir, "directory for the deployment's state and logs");
  add_access_options(convert, access);
  auto* chaos = app.add_subcommand("chaos", "inject a fault into a running deployment's node");
  double chaos_gbps = 0;
  chaos->add_option("action", chaos_action, "kill | stop | cont | term | link")->required();
  chaos->add_option("nodes", chaos_nodes, "node names (prfaas status lists them); for link: cut | restore | rate");
  chaos->add_option("--gbps", chaos_gbps, "link rate: the new rate of the whole inter-cluster link");
  chaos->add_option("--state", state_dir, "directory for the deployment's state and logs");
  add_access_options(chaos, access);
  apps::replay_options replay_opts;
  auto* replay = app.add_subcommand("replay", "send a trace to the running deployment; hit rate, offload, TTFT");
  replay->add_option("--trace", replay_opts.trace, "trace in the ../shared/traces format")->required();
  replay->add_option("--scale-tokens", replay_opts.scale_tokens, "trace tokens per prompt byte (divides 512)")
      ->check(CLI::IsMember({1, 2, 4, 8, 16, 32, 64, 128, 256, 512}));
  replay->add_option("--requests", replay_opts.requests, "the first N requests")->check(CLI::Range(1, 1000000));
  replay->add_option("--concurrency", replay_opts.concurrency, "requests in flight at once")->check(CLI::Range(1, 256));
  replay_opts.sampling.add_to(*replay);
  replay->add_option("--max-tokens", replay_opts.max_tokens, "cap on output tokens per request")->check(CLI::Range(1, 4096));
  replay->add_option("--router", router_flag, "HOST:PORT of the router (default: from --state)");
  replay->add_option("--state", state_dir, "directory for the deployment's state and logs");
  add_access_options(replay, access);
  replay->add_flag("--json", replay_opts.as_json, "print one JSON object");
  replay->add_option("--deadline-ms", replay_opts.deadline_ms, "each request's deadline")->check(CLI::Range(1, 3600000));
  replay->add_option("--outcomes", replay_opts.outcomes, "write every request's outcome here (JSON lines, for prfaas check)");

  std::string check_run, check_reference;
  faults::check_options check_opts;
  auto* check = app.add_subcommand("check", "check a fault run's request outcomes against a fault-free run's");
  check->add_option("run", check_run, "outcomes of the run under faults (prfaas replay --outcomes)")->required();
  check->add_option("--reference", check_reference, "outcomes of the same requests without faults")->required();
  check->add_option("--min-completed", check_opts.min_completed, "fraction that must complete")->check(CLI::Range(0.0, 1.0));
  check->add_flag("--json", as_json, "print one JSON object");
  auto* certs = app.add_subcommand("certs", "issue a certificate from a deployment's CA (for a node on another host, or a client)");
  std::string cert_name, cert_role, cert_out;
  certs->add_option("--state", state_dir, "directory of the deployment whose CA issues it (STATE/pki)");
  certs->add_option("--name", cert_name, "the node's name, unique in the deployment")->required();
  certs->add_option("--role", cert_role, "router | cache-directory | prefill | decode | client")
      ->required()
      ->check(CLI::IsMember({"router", "cache-directory", "prefill", "decode", "gateway", "client"}));
  certs->add_option("--out", cert_out, "write NAME.pem, NAME.key (0600) and ca.pem here")->required();
  apps::netem_options netem_opts;
  auto* netem = app.add_subcommand("netem", "an emulated WAN between two network namespaces (root; for kernels without netem)");
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
  auto* bench = app.add_subcommand("bench", "benchmarks that print their figures");
  bench->require_subcommand(1);
  apps::bench_transport_options bench_opts;
  int tls_rounds = 3, tls_requests = 20;
  auto* bench_tls = bench->add_subcommand("tls", "a served request's latency with and without TLS on the actor plane");
  bench_tls->add_option("--config", config_path, "deployment TOML file");
  bench_tls->add_option("--rounds", tls_rounds, "deployments of each kind, alternating")->check(CLI::Range(1, 20));
  bench_tls->add_option("--requests", tls_requests, "requests per round")->check(CLI::Range(1, 1000));
  apps::bench_serve_options serve_opts;
  auto* bench_serve = bench->add_subcommand("serve", "streaming requests through the HTTP gateway and the actor plane: "
                                                     "req/s, TTFT, inter-token latency, the gateway's added latency");
  bench_serve->add_option("--config", serve_opts.config, "deployment TOML file");
  bench_serve->add_option("--concurrency", serve_opts.concurrency, "requests in flight at once")->check(CLI::Range(1, 256));
  bench_serve->add_option("--requests", serve_opts.requests, "requests per path")->check(CLI::Range(1, 100000));
  bench_serve->add_option("--prompt-bytes", serve_opts.prompt_bytes, "prompt length (bytes = tokens)")->check(CLI::Range(1, 4000));
  bench_serve->add_option("--max-tokens", serve_opts.max_tokens, "output tokens per request")->check(CLI::Range(2, 4000));
  bench_serve->add_flag("--json", serve_opts.json, "print one JSON object");
  apps::bench_cluster_options cluster_opts;
  auto* bench_cl = bench->add_subcommand("cluster", "the case study live: PrfaaS-PD vs homogeneous PD vs naive heterogeneous, "
                                                    "emulated engines, beside the simulator");
  bench_cl->add_option("--scenario", cluster_opts.scenario, "scenario TOML file")->required();
  bench_cl->add_option("--time-scale", cluster_opts.time_scale, "run the profiles this many times faster")
      ->check(CLI::Range(1.0, 100.0));
  bench_cl->add_option("--kv-scale", cluster_opts.kv_scale, "KV this many times smaller than the profile's")
      ->check(CLI::Range(16.0, 100000.0));
  bench_cl->add_option("--requests", cluster_opts.requests, "requests per offered rate")->check(CLI::Range(40, 100000));
  bench_cl->add_option("--iterations", cluster_opts.iterations, "bisection steps per deployment")->check(CLI::Range(1, 20));
  bench_cl->add_option("--seed", cluster_opts.seed, "seed of the arrivals and lengths");
  bench_cl->add_option("--only", cluster_opts.only, "run one deployment")
      ->check(CLI::IsMember({"prfaas_pd", "homogeneous_pd", "naive_heterogeneous"}));
  bench_cl->add_option("--out", cluster_opts.out_dir, "folder for summary.json, cluster.png and CSVs");
  bench_cl->add_flag("--json", cluster_opts.json, "print one JSON object");
  bench_cl->add_flag("--sim-only", cluster_opts.sim_only, "the simulator's side only (live columns repeat it)");
  bench_cl->add_flag("--collapse", cluster_opts.collapse, "instead: PrfaaS-PD with the live controller through a link collapse");
  bench_cl->add_option("--collapse-gbps", cluster_opts.collapse_gbps, "the link after the collapse (profile scale)")
      ->check(CLI::Range(0.1, 10000.0));
  bench_cl->add_option("--collapse-load", cluster_opts.collapse_load, "offered rate as a fraction of the planned Λ_max")
      ->check(CLI::Range(0.05, 1.5));
  apps::bench_wan_options wan_opts;
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
  apps::bench_engine_options engine_opts;
  auto* bench_engine = bench->add_subcommand("engine", "a model's engine: prefill tokens/s and GFLOP/s against the "
                                                       "matrix-multiply library's peak, decode tokens/s by batch");
  bench_engine->add_option("--device", engine_opts.device, "cpu (no GPU engine computes these layers yet)");
  bench_engine->add_option("--model", engine_opts.model, "a checkpoint folder (default: the built-in seeded model)");
  bench_engine->add_option("--decode-steps", engine_opts.decode_steps, "steps per decode batch size")->check(CLI::Range(1, 4096));
  bench_engine->add_flag("--json", engine_opts.json, "print one JSON object");
  apps::bench_tokenizer_options tokenizer_opts;
  auto* bench_tok = bench->add_subcommand("tokenizer", "the model's tokenizer on one core: encode and decode MB/s over 1 MB of mixed text");
  bench_tok->add_option("--tokenizer", tokenizer_opts.tokenizer, "a tokenizer.json (default: the Qwen3 test fixture)")
      ->check(CLI::ExistingFile);
  bench_tok->add_flag("--json", tokenizer_opts.json, "print one JSON object");
  auto* bench_tx = bench->add_subcommand("transport", "KV transport vs plain send/recv, two processes on loopback");
  bench_tx->add_option("--csv", bench_opts.csv, "write block_bytes,connections,transport_gbps,raw_gbps (Gbit/s)");
  bench_tx->add_option("--reps", bench_opts.reps, "transfers per cell and method (median)")->check(CLI::Range(1, 100));
  bench_tx->add_option("--mib", bench_opts.total_mib, "MiB per transfer")->check(CLI::Range(8, 4096));
  auto* tx_serve = bench_tx->add_option("--serve", bench_opts.serve, "HOST:PORT: be the receiving end for a sender elsewhere");
  bench_tx->add_option("--connect", bench_opts.connect, "HOST:PORT of a receiver started with --serve")->excludes(tx_serve);
  // Usage errors exit 2 (help and version 0), whatever CLI11's own code for the error.
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }

  access.state_dir = state_dir;
  try {
    if (*certs) return cmd_certs(state_dir, cert_name, cert_role, cert_out);
    if (*bench_tx) return apps::bench_transport(bench_opts);
    if (*bench_wan) return apps::bench_wan(wan_opts);
    if (*bench_engine) return apps::bench_engine(engine_opts);
    if (*bench_tok) return apps::bench_tokenizer(tokenizer_opts);
    if (*netem_up) return apps::netem_up(netem_opts);
    if (*bench_cl) return apps::bench_cluster(cluster_opts);
    if (*bench_tls) return cmd_bench_tls(config_path, tls_rounds, tls_requests);
    if (*bench_serve) return apps::bench_serve(serve_opts);
    if (*plan) return apps::plan_command(scenario, as_json);
    if (*sim) return apps::sim_command(sim_opts);
    if (*up) return cmd_up(config_path, model_dir, state_dir, insecure, up_host);
    if (*down) return cmd_down(state_dir);
    if (*chaos) return cmd_chaos(access, chaos_action, chaos_nodes, chaos_gbps);
    if (*link_set) return cmd_chaos_link(access, {"rate"}, link_gbps);
    if (*convert) {
      client_system client(config::deployment_config{}, client_tls(access, "operator"));
      auto router = connect(client.sys, router_address("", state_dir), 3);
      const auto started = std::chrono::steady_clock::now();
      auto r = actors::convert_node(client.sys, router, convert_name, convert_to, std::chrono::minutes(5));
      if (!r) throw cli_error{actors::describe(r.error())};
      std::printf("%s now serves as a %s node (%.0f ms, drain included)\n", convert_name.c_str(), convert_to.c_str(),
                  std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count());
      return 0;
    }
    if (*model_init) {
      init_opts.type = init_dtype == "bf16" ? model::dtype::bf16 : model::dtype::f32;
      init_opts.tokenizer_dir = init_tokenizer;
      return cmd_model_init(init_config, init_out, init_opts);
    }
    if (*status) return cmd_status(access, router_flag, as_json);
    if (*trace) return cmd_trace(access, router_flag, trace_id, as_json);
    if (*metrics_cmd) return cmd_metrics(access, router_flag);
    if (*check) return cmd_check(check_run, check_reference, check_opts, as_json);
    if (*demo) return cmd_demo(config_path, model_dir, insecure);
    if (*replay) {
      const auto router_at = router_address(router_flag, state_dir);
      client_system client(config::deployment_config{}, client_tls(access));
      return apps::replay_command(client.sys, router_at, replay_opts);
    }
    if (*gen) {
      if (!prompt_file.empty()) {
        std::ifstream in(prompt_file, std::ios::binary);
        prompt.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
      }
      if (in_proc) {
        auto config = load(config_path, model_dir);
        omp_set_num_threads(config.node.threads);
        if (!prompt_ids_text.empty() || logprobs > 0) {
          const auto ids = prompt_ids_text.empty() ? model::encode(prompt) : parse_ids(prompt_ids_text);
          std::cout << dump(in_process_steps(config, ids, max_tokens, logprobs)) << std::endl;
          return 0;
        }
        print_result(in_process(config, prompt, max_tokens, sampling.decoding()), as_json);
        return 0;
      }
      const auto router_at = router_address(router_flag, state_dir);
      client_system client(config::deployment_config{}, client_tls(access));
      auto router = connect(client.sys, router_at);  // an unreachable router is reported at once
      // Retries within the request's deadline (the router's default when unset, 60 s here).
      const int budget_ms = deadline_ms > 0 ? deadline_ms : 60000;
      if (stream) {  // tokens as they come, then the summary (no retries: one router)
        auto r = actors::generate_streaming(
            client.sys, router, actors::generate_request{prompt, max_tokens, deadline_ms, {}, {}, {}, sampling.decoding()},
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
      auto r = actors::generate_retrying(client.sys, router_at,
                                         actors::generate_request{prompt, max_tokens, deadline_ms, {}, {}, {}, sampling.decoding()},
                                         std::chrono::milliseconds(budget_ms + 2000));
      if (!r) throw cli_error{actors::describe(r.error())};
      print_result(*r, as_json);
      return 0;
    }
  } catch (const cli_error& e) {
    std::cerr << "prfaas: error: " << e.message << std::endl;
    return 1;
  } catch (const failure& f) {
    std::cerr << "prfaas: error: " << to_string(f.code()) << ": " << f.what() << std::endl;
    return 1;
  }
  return 2;
}

#include "apps/cli_support.h"

#include "runtime/control/etcd_client.h"

#include "apps/commands.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <memory>
#include <mutex>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>
#include <chrono>
#include <thread>

#include "actors/client.hpp"
#include "runtime/model/tokenizer.h"
#include "runtime/sched/request_log.h"

namespace prfaas::apps {

namespace fs = std::filesystem;

client_system::client_system(const config::deployment_config& c, const actors::tls_files& tls)
    : cfg(c.router, 1, tls), sys(cfg) {
  if (!tls.enabled()) spdlog::warn("prfaas: plaintext actor plane (--insecure)");
}

caf::actor connect(caf::actor_system& sys, const actors::router_locator& router, int attempts) {
  auto h = actors::connect_router(sys, router, attempts);
  if (!h) throw cli_error{actors::describe(h.error())};
  return *h;
}

void wait_ready(caf::actor_system& sys, const caf::actor& router, launcher& l, int timeout_ms) {
  // A standby router registers nothing: it is not among the workers the leader must see.
  for (int waited = 0;; waited += 100) {
    auto exited = l.reap_exited();
    if (!exited.empty()) {
      std::string why = "node exited during start-up: " + exited.front();
      for (const auto& n : l.nodes())
        if (exited.front().rfind(n.name + " ", 0) == 0) why += "\n" + l.log_tail(n);
      throw cli_error{why};
    }
    // Every worker this launcher started is registered (across hosts, other hosts' nodes may be too).
    auto s = actors::status(sys, router);
    if (s) {
      size_t found = 0;
      for (const auto& name : l.expected_worker_names())
        found += std::any_of(s->nodes.begin(), s->nodes.end(), [&](const auto& n) { return n.name == name; });
      if (found == l.expected_workers()) return;
    }
    if (waited > timeout_ms) throw cli_error{"deployment not ready after " + std::to_string(timeout_ms) + " ms"};
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

endpoint start_and_wait(launcher& l, caf::actor_system& sys, const config::deployment_config& config) {
  const auto started = std::chrono::steady_clock::now();
  endpoint router_at;
  try {
    router_at = l.start();
  } catch (const failure& f) {
    throw cli_error{f.what()};
  }
  wait_ready(sys, connect(sys, router_at), l);
  std::this_thread::sleep_until(started + std::chrono::milliseconds(config.router.settle_ms));
  return router_at;
}

void block_signals(sigset_t& set) {
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

// A deterministic prompt of about `bytes` bytes of English-like text.
std::string demo_prompt(int seed, int bytes) {
  static const char* words[] = {"prefill", "decode", "cluster", "cache", "token", "layer", "state", "link",
                                "router", "block", "hybrid", "attention", "remote", "local", "stream", "bandwidth"};
  std::string s = "Request " + std::to_string(seed) + ":";
  uint64_t x = 0x9e3779b97f4a7c15ull * (seed + 1);
  while (static_cast<int>(s.size()) < bytes) {
    x ^= x << 13; x ^= x >> 7; x ^= x << 17;
    s += " ";
    s += words[x % 16];
  }
  s.resize(bytes);
  return s;
}

void sampling_flags::add_to(CLI::App& cmd) {
  cmd.add_option("--temperature", temperature, "sampling temperature (0: greedy)")->check(CLI::Range(0.0, 2.0));
  cmd.add_option("--top-p", top_p, "nucleus sampling: the smallest set of tokens reaching this mass")->check(CLI::Range(0.0, 1.0));
  cmd.add_option("--top-k", top_k, "sample among the K most likely tokens (0: all)")->check(CLI::Range(0, 1 << 20));
  cmd.add_option("--seed", seed, "the sampling seed (default: the router's, printed with --json)")->check(CLI::Range(0LL, 1LL << 62));
  cmd.add_option("--stop-token-ids", stop_token_ids, "token ids that end the output")->delimiter(',');
}

actors::decoding sampling_flags::decoding(long long seed_offset) const {
  model::sampling_params p;
  p.temperature = temperature;
  p.top_p = top_p;
  p.top_k = top_k;
  if (seed >= 0) p.seed = static_cast<uint64_t>(seed + seed_offset);
  auto d = actors::decoding_of(p, seed >= 0);
  d.stop_ids = stop_token_ids;
  return d;
}

// The deployment's config; `model_dir` (--model) points it at a checkpoint folder.
config::deployment_config load(const std::string& path, const std::string& model_dir) {
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
  j["decode_cached_tokens"] = r.decode_cached_tokens;
  j["kv_held_bytes"] = r.kv_held_bytes;
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

actors::tls_files client_tls(const client_access& a, const std::string& as) {
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

actors::router_locator router_address(const std::string& flag, const std::string& state_dir) {
  try {
    if (!flag.empty()) return parse_endpoint(flag);
    const auto st = read_state(state_dir);
    if (const auto etcd = st.value("etcd", std::string()); !etcd.empty())
      return actors::router_locator(control::parse_etcd_endpoints(etcd));
    return parse_endpoint(st.at("router").get<std::string>());
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

process_sample sample_process(int pid) {
  process_sample out;
  const std::string dir = "/proc/" + std::to_string(pid);
  std::ifstream status(dir + "/status");
  for (std::string line; std::getline(status, line);)
    if (line.rfind("VmRSS:", 0) == 0) out.rss_kib = std::stol(line.substr(6));
  std::ifstream stat_file(dir + "/stat");
  const std::string stat((std::istreambuf_iterator<char>(stat_file)), std::istreambuf_iterator<char>());
  const auto close = stat.rfind(')');  // the name may hold spaces; fields follow it
  if (close == std::string::npos) throw cli_error{"process " + std::to_string(pid) + " is gone"};
  std::istringstream fields(stat.substr(close + 2));
  std::string f;
  for (int i = 3; i <= 15 && fields >> f; ++i) {
    if (i == 14 || i == 15) out.ticks += std::stoll(f);
    if (i == 15) out.system_ticks = std::stoll(f);
  }
  std::ifstream io(dir + "/io");
  for (std::string line; std::getline(io, line);)
    if (line.rfind("syscr:", 0) == 0 || line.rfind("syscw:", 0) == 0) out.syscalls += std::stoll(line.substr(6));
  std::error_code ec;
  for (const auto& task : std::filesystem::directory_iterator(dir + "/task", ec)) {
    std::ifstream task_status(task.path() / "status");
    for (std::string line; std::getline(task_status, line);)
      if (line.rfind("voluntary_ctxt_switches:", 0) == 0 || line.rfind("nonvoluntary_ctxt_switches:", 0) == 0)
        out.switches += std::stoll(line.substr(line.find(':') + 1));
  }
  return out;
}

const std::vector<std::pair<std::string, std::string>>& bench_command_names() {
  static const std::vector<std::pair<std::string, std::string>> names = {
      {"plan", "size a deployment with the throughput model; compare with baselines"},
      {"sim", "simulate a deployment driving the router's policy code"},
      {"netem", "an emulated WAN between two network namespaces (root; for kernels without netem)"},
      {"bench", "benchmarks that print their figures"},
      {"replay", "send a trace to the running deployment; hit rate, offload, TTFT"},
  };
  return names;
}

int run_command_line(CLI::App& app, cli_context& ctx, int argc, char** argv) {
  // Usage errors exit 2 (help and version 0), whatever CLI11's own code for the error.
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }
  if (!ctx.run) return 2;
  ctx.access.state_dir = ctx.state_dir;
  try {
    return ctx.run();
  } catch (const cli_error& e) {
    std::cerr << "prfaas: error: " << e.message << std::endl;
    return 1;
  } catch (const failure& f) {
    std::cerr << "prfaas: error: " << to_string(f.code()) << ": " << f.what() << std::endl;
    return 1;
  }
}

}  // namespace prfaas::apps

// prfaas up, down, status, demo and certs: a deployment's life on this host.
//
//   prfaas up [--config FILE] [--model DIR] [--state DIR] [--host NAME]   launch it (Ctrl-C stops it)
//   prfaas down [--state DIR]                     stop the deployment `up` started
//   prfaas status [--state DIR] [--json]          nodes, request counters, the link
//   prfaas demo [--config FILE]                   up, a mixed workload, a summary, down
//   prfaas certs --name N --role R --out DIR      a certificate from the deployment's CA

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
#include <fcntl.h>
#include <sys/file.h>

#include "apps/launcher.h"
#include "runtime/common/errc.h"
#include "runtime/control/etcd_client.h"
#include "runtime/security/pki.h"
#include "runtime/model/checkpoint.h"
#include "runtime/model/checkpoint_init.h"
#include "runtime/engine/engine.h"
#include "runtime/model/tokenizer.h"

namespace prfaas::apps {
namespace {

namespace fs = std::filesystem;

int cmd_up(const std::string& config_path, const std::string& model_dir, const std::string& state_dir, bool insecure,
           const std::string& host) {
  sigset_t signals;
  block_signals(signals);
  // SIGCHLD too, before any thread starts (threads inherit the mask): a node's exit wakes the
  // loop below, and no other thread takes the signal and drops it.
  sigaddset(&signals, SIGCHLD);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
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
  // The launcher's own actor system only watches the deployment come up; it is closed then, so
  // a resting deployment carries no connection (and no heartbeats) to its launcher.
  const endpoint router_at = [&] {
    client_system client(config, creds);
    return start_and_wait(l, client.sys, config);
  }();
  const bool gateway_here = host.empty() || host == config.deployment.router_host;
  const auto gateways_at = gateway_here ? l.gateways() : std::vector<endpoint>{};
  const std::string scheme = config.gateway.tls ? "https://" : "http://";
  auto write_state = [&] {
    json st;
    st["router"] = router_at.str();
    // Standby routers: clients follow the leader this etcd names.
    if (!l.etcd().empty()) st["etcd"] = l.etcd();
    // "gateway": the first (what clients of one door read); "gateways": every replica.
    for (const auto& g : gateways_at) st["gateways"].push_back(scheme + g.str() + "/v1");
    if (!gateways_at.empty()) st["gateway"] = st["gateways"][0];
    st["insecure"] = insecure;
    st["up_pid"] = ::getpid();
    for (const auto& n : l.nodes()) {
      json node = {{"name", n.name}, {"role", n.role}, {"cluster", n.cluster}, {"pid", n.pid}, {"log", n.log}};
      for (const auto& arg : n.extra)  // a router's address: status tells the leader by it
        if (n.role == "router" && arg.rfind("--listen=", 0) == 0) node["address"] = arg.substr(9);
      st["nodes"].push_back(node);
    }
    std::ofstream(state_file(state_dir) + ".tmp") << st.dump(2) << "\n";
    fs::rename(state_file(state_dir) + ".tmp", state_file(state_dir));
  };
  write_state();
  std::cout << "prfaas deployment up" << (host.empty() ? "" : " on host " + host) << ": router at " << router_at.str()
            << ", " << l.nodes().size() << " nodes (logs in " << state_dir << "/logs); Ctrl-C or `prfaas down` stops it"
            << std::endl;
  for (const auto& g : gateways_at)
    std::cout << "OpenAI-compatible API at " << scheme << g.str() << "/v1 (model " << config::served_model_name(config) << ")"
              << std::endl;
  // Asleep until a signal, a node's exit (SIGCHLD) or a restart falling due: a resting deployment
  // keeps its launcher asleep too.  The 5 s bound is a safety net, not a poll.
  for (;;) {
    const double wait_s = std::min(5.0, l.next_restart_in().value_or(5.0)) + 0.001;
    timespec tick{static_cast<time_t>(wait_s), static_cast<long>((wait_s - static_cast<time_t>(wait_s)) * 1e9)};
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
  const auto st = read_state_if_any(access.state_dir);
  if (st.contains("gateway")) {
    j["gateway"] = st["gateway"];
    j["gateways"] = st.value("gateways", json::array({st["gateway"]}));
  }
  // Standby routers: the leader etcd names, by name, the standbys, and etcd's health.
  if (router_at.follows_etcd()) {
    const auto leader = router_at.leader_now();
    j["leader_address"] = leader ? leader->str() : "";
    j["standbys"] = json::array();
    for (const auto& n : st.value("nodes", json::array()))
      if (n.value("role", "") == "router") {
        if (leader && n.value("address", "") == leader->str()) j["leader"] = n["name"];
        else j["standbys"].push_back(n["name"]);
      }
    control::etcd_client etcd(router_at.etcd());
    j["etcd"] = {{"endpoints", st.value("etcd", "")}, {"healthy", etcd.healthy()}};
  }
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
  j["link_source"] = s->link_source;
  j["link_utilisation"] = s->link_gbps > 0 ? s->prfaas_egress_gbps / s->link_gbps : 0.0;
  j["links"] = json::array();
  for (const auto& l : s->links)
    j["links"].push_back({{"node", l.node}, {"prfaas", l.prfaas}, {"egress_gbps", l.egress_gbps},
                          {"capacity_gbps", l.capacity_gbps}, {"bytes_in_flight", l.bytes_in_flight},
                          {"links", l.links}, {"connections", l.connections}, {"rtt_us", l.rtt_us},
                          {"retransmits", l.retransmits}, {"cwnd", l.cwnd}, {"delivery_rate_bps", l.delivery_rate_bps},
                          {"measured_gbps", l.measured_gbps},
                          {"bdp_bytes", l.bdp_bytes}, {"wanted_connections", l.wanted_connections}});
  j["nodes"] = json::array();
  for (const auto& n : s->nodes)
    j["nodes"].push_back({{"name", n.name}, {"role", cluster::to_string(n.role)}, {"cluster", n.cluster}, {"data_endpoint", n.data_endpoint}});
  auto hit_rate = [](const actors::cache_stats& c) { return c.lookups ? double(c.hits) / c.lookups : 0.0; };
  j["caches"] = json::array();
  for (const auto& c : s->caches)
    j["caches"].push_back({{"node", c.node}, {"bytes", c.bytes}, {"blocks", c.blocks}, {"snapshots", c.snapshots},
                           {"lookups", c.lookups}, {"hits", c.hits}, {"hit_rate", hit_rate(c)},
                           {"hit_tokens", c.hit_tokens}, {"lookup_tokens", c.lookup_tokens}, {"evictions", c.evictions}});
  if (as_json) { std::cout << dump(j) << std::endl; return 0; }
  std::printf("router %s: %lld completed, %lld failed, %lld in flight\n", router_at.str().c_str(),
              static_cast<long long>(s->completed), static_cast<long long>(s->failed), static_cast<long long>(s->in_flight));
  if (j.contains("etcd")) {
    std::string standbys;
    for (const auto& n : j["standbys"]) standbys += (standbys.empty() ? "" : ", ") + n.get<std::string>();
    std::printf("leader %s (%s); standbys: %s; etcd %s %s\n", j.value("leader", std::string("?")).c_str(),
                j["leader_address"].get<std::string>().c_str(), standbys.empty() ? "none" : standbys.c_str(),
                j["etcd"]["endpoints"].get<std::string>().c_str(), j["etcd"]["healthy"].get<bool>() ? "healthy" : "NOT healthy");
  }
  if (j.contains("gateways"))
    for (const auto& g : j["gateways"]) std::printf("gateway %s (OpenAI-compatible HTTP API)\n", g.get<std::string>().c_str());
  std::printf("threshold t = %d tokens (%d moves by the live controller); last minute: %d completed, %.0f %% offloaded\n",
              s->threshold_tokens, s->threshold_moves, s->recent_completed, 100 * s->offload_share);
  for (const auto& n : s->nodes)
    std::printf("  %-18s %-16s cluster %s\n", n.name.c_str(), cluster::to_string(n.role), n.cluster.c_str());
  if (s->link_gbps > 0)
    std::printf("PrfaaS egress %.3f Gbps of a %.3f Gbps link (%s; %.1f %% utilised)\n", s->prfaas_egress_gbps,
                s->link_gbps, s->link_source.c_str(), 100 * s->prfaas_egress_gbps / s->link_gbps);
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

}  // namespace

void add_deployment_commands(CLI::App& app, cli_context& ctx) {
  auto* up = app.add_subcommand("up", "launch a deployment from one config file as local processes");
  up->add_option("--config", ctx.config_path, "deployment TOML file");
  up->add_option("--model", ctx.model_dir, "a checkpoint folder every node loads (engine.kind = \"hf\")");
  up->add_option("--state", ctx.state_dir, "directory for the deployment's state and logs");
  up->add_flag("--insecure", ctx.insecure, "plaintext, unauthenticated actor plane (testing only; logs a warning)");
  auto& up_host = ctx.hold<std::string>();
  up->add_option("--host", up_host,
                 "across hosts: start only the nodes the config places on this one of its [hosts] (the router's "
                 "host first; the others share or copy its STATE/pki and STATE/secret)");
  up->callback([&ctx, host = &up_host] {
    ctx.run = [&ctx, host] { return cmd_up(ctx.config_path, ctx.model_dir, ctx.state_dir, ctx.insecure, *host); };
  });

  auto* down = app.add_subcommand("down", "stop the deployment started by `prfaas up`");
  down->add_option("--state", ctx.state_dir, "directory for the deployment's state and logs");
  down->callback([&ctx] { ctx.run = [&ctx] { return cmd_down(ctx.state_dir); }; });

  auto* status = app.add_subcommand("status", "show the running deployment's nodes and counters");
  status->add_option("--state", ctx.state_dir, "directory for the deployment's state and logs");
  status->add_option("--router", ctx.router_flag, "HOST:PORT of the router (default: from --state)");
  status->add_flag("--json", ctx.as_json, "print one JSON object");
  add_access_options(status, ctx.access);
  status->callback([&ctx] { ctx.run = [&ctx] { return cmd_status(ctx.access, ctx.router_flag, ctx.as_json); }; });

  auto* demo = app.add_subcommand("demo", "up, a short mixed workload, a summary table, down");
  demo->add_option("--config", ctx.config_path, "deployment TOML file");
  demo->add_option("--model", ctx.model_dir, "a checkpoint folder (default: a generated Qwen3-Next, kept in .prfaas/models)");
  demo->add_flag("--insecure", ctx.insecure, "plaintext, unauthenticated actor plane (to compare; logs a warning)");
  demo->callback([&ctx] { ctx.run = [&ctx] { return cmd_demo(ctx.config_path, ctx.model_dir, ctx.insecure); }; });

  struct certs_options {
    std::string name, role, out;
  };
  auto& c = ctx.hold<certs_options>();
  auto* certs = app.add_subcommand("certs", "issue a certificate from a deployment's CA (for a node on another host, or a client)");
  certs->add_option("--state", ctx.state_dir, "directory of the deployment whose CA issues it (STATE/pki)");
  certs->add_option("--name", c.name, "the node's name, unique in the deployment")->required();
  certs->add_option("--role", c.role, "router | cache-directory | prefill | decode | client")
      ->required()
      ->check(CLI::IsMember({"router", "cache-directory", "prefill", "decode", "gateway", "client"}));
  certs->add_option("--out", c.out, "write NAME.pem, NAME.key (0600) and ca.pem here")->required();
  certs->callback([&ctx, o = &c] { ctx.run = [&ctx, o] { return cmd_certs(ctx.state_dir, o->name, o->role, o->out); }; });
}

}  // namespace prfaas::apps

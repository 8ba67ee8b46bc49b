#include "runtime/config/deployment_config.h"


#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <functional>
#include <map>
#include <sstream>

#include "runtime/common/errc.h"
#include "runtime/config/toml_reader.h"
#include "runtime/profile/emulated_layout.h"
#include "runtime/model/checkpoint.h"
#include "runtime/profile/instance_profile.h"

namespace prfaas::config {

namespace {

// engine.kind = "hf": the model's shape is the checkpoint's; [model] may only size the KV blocks
// and bound the context.  The checkpoint is read and hashed here, once per process.
void resolve_checkpoint(deployment_config& c, const std::string& source) {
  const auto given = c.model;
  model::model_config only_layout;
  only_layout.block_tokens = given.block_tokens;
  only_layout.max_context = given.max_context;
  if (given.fingerprint() != only_layout.fingerprint())
    throw failure(errc::bad_config, source + ": [model] with engine.kind = \"hf\" may set only block_tokens and "
                                             "max_context (the shape is the checkpoint's)");
  try {
    c.model = model::checkpoint::open(c.engine.model).config();
  } catch (const failure& f) {
    throw failure(errc::bad_config, source + ": engine.model: " + f.what());
  }
  c.model.block_tokens = given.block_tokens;
  if (given.max_context != model::model_config{}.max_context) c.model.max_context = given.max_context;
  try {
    c.model.validate();
  } catch (const failure& f) {
    throw failure(errc::bad_config, source + ": " + f.what());
  }
}

}  // namespace

void use_model(deployment_config& c, const std::string& dir) {
  if (c.engine.emulated()) throw failure(errc::bad_config, "--model " + dir + ": the config's engine is emulated");
  if (c.engine.checkpoint() && std::filesystem::absolute(dir) == std::filesystem::absolute(c.engine.model)) return;
  if (c.engine.checkpoint()) {  // another checkpoint: its layout fields stay, its shape goes
    const auto block = c.model.block_tokens;
    c.model = model::model_config{};
    c.model.block_tokens = block;
  }
  c.engine.kind = "hf";
  c.engine.model = std::filesystem::absolute(dir).lexically_normal().string();
  resolve_checkpoint(c, "--model " + dir);
}

deployment_config parse_config(const std::string& text, const std::string& source) {
  const toml::table root = parse_toml(text, source);
  deployment_config c;
  bool model_given = false;
  bool gateway_replicas_set = false;
  const std::map<std::string, std::function<void(table_reader&)>> sections = {
      {"engine", [&](table_reader& r) {
         auto& e = c.engine;
         r.get("kind", e.kind); r.get("model", e.model);
         r.get("profile", e.profile); r.get("profile_prfaas", e.profile_prfaas);
         r.get("time_scale", e.time_scale); r.get("kv_scale", e.kv_scale);
         r.get("max_context", e.max_context); r.get("seed", e.seed); r.get("device", e.device);
       }},
      {"model", [&](table_reader& r) {
         auto& m = c.model;
         r.get("d_model", m.d_model); r.get("n_layers", m.n_layers);
         r.get("linear_per_full", m.linear_per_full); r.get("heads", m.heads);
         r.get("kv_heads", m.kv_heads); r.get("head_dim", m.head_dim);
         r.get("linear_heads", m.linear_heads); r.get("linear_key_dim", m.linear_key_dim);
         r.get("linear_value_dim", m.linear_value_dim); r.get("ffn_dim", m.ffn_dim);
         r.get("max_context", m.max_context); r.get("block_tokens", m.block_tokens);
         r.get("rope_theta", m.rope_theta); r.get("norm_eps", m.norm_eps); r.get("seed", m.seed);
         r.get("rotary_fraction", m.rotary_fraction); r.get("linear_key_heads", m.linear_key_heads);
         r.get("conv_kernel", m.conv_kernel); r.get("experts", m.experts);
         r.get("experts_per_token", m.experts_per_token); r.get("expert_ffn_dim", m.expert_ffn_dim);
         r.get("shared_expert_ffn_dim", m.shared_expert_ffn_dim);
         model_given = true;
       }},
      {"router", [&](table_reader& r) {
         r.get("threshold_tokens", c.router.threshold_tokens); r.get("deadline_ms", c.router.deadline_ms);
         r.get("heartbeat_ms", c.router.heartbeat_ms); r.get("node_timeout_ms", c.router.node_timeout_ms);
         r.get("max_in_flight", c.router.max_in_flight);
         r.get("pull_min_tokens", c.router.pull_min_tokens);
         r.get("reserve_with_prefill", c.router.reserve_with_prefill);
         r.get("bandwidth_abundant", c.router.bandwidth_abundant);
         r.get("max_attempts", c.router.max_attempts);
         r.get("queue_max", c.router.queue_max);
         r.get("drain_ms", c.router.drain_ms);
         r.get("settle_ms", c.router.settle_ms);
         r.get("max_message_mib", c.router.max_message_mib);
         r.get("accepts_per_peer_per_s", c.router.accepts_per_peer_per_s);
         r.get("controller", c.router.controller);
         r.get("controller_period_ms", c.router.controller_period_ms);
         r.get("profile_prfaas", c.router.profile_prfaas); r.get("profile_pd", c.router.profile_pd);
         r.get("output_tokens", c.router.output_tokens);
         r.get("rebalancer", c.router.rebalancer); r.get("rebalance_period_ms", c.router.rebalance_period_ms);
       }},
      {"node", [&](table_reader& r) {
         r.get("kv_blocks", c.node.kv_blocks); r.get("max_sequences", c.node.max_sequences);
         r.get("threads", c.node.threads); r.get("prefill_token_budget", c.node.prefill_token_budget);
         r.get("news_gap_ms", c.node.news_gap_ms);
         r.get("log_format", c.node.log_format);
       }},
      {"cache", [&](table_reader& r) {
         r.get("budget_mib", c.cache.budget_mib);
         r.get("snapshot_every_blocks", c.cache.snapshot_every_blocks);
       }},
      {"transport", [&](table_reader& r) {
         auto& t = c.transport;
         r.get("connections", t.connections); r.get("max_connections", t.max_connections);
         r.get("kernel_pacing_gbps", t.kernel_pacing_gbps); r.get("max_inflight_mib", t.max_inflight_mib);
         r.get("staging_mib", t.staging_mib);
         r.get("secret_file", t.secret_file); r.get("link_gbps", t.link_gbps);
         r.get("emulate_link", t.emulate_link); r.get("link_delay_ms", t.link_delay_ms);
         r.get("receive_timeout_ms", t.receive_timeout_ms); r.get("resume_timeout_ms", t.resume_timeout_ms);
         r.get("encrypt", t.encrypt);
       }},
      {"faults", [&](table_reader& r) {
         auto& f = c.faults;
         r.get("seed", f.seed); r.get("drop_frame", f.drop_frame); r.get("reset_link", f.reset_link);
         r.get("delay_layer_ms", f.delay_layer_ms); r.get("fail_alloc", f.fail_alloc);
         r.get("crash_role", f.crash_role);
       }},
      {"control", [&](table_reader& r) {
         auto& k = c.control;
         r.get("standby_routers", k.standby_routers); r.get("etcd", k.etcd); r.get("lease_s", k.lease_s);
         r.get("etcd_port", k.etcd_port);
       }},
      {"gateway", [&](table_reader& r) {
         auto& g = c.gateway;
         r.get("enabled", g.enabled); r.get("port", g.port); gateway_replicas_set = r.get("replicas", g.replicas); r.get("model", g.model);
         r.get("api_key_file", g.api_key_file); r.get("max_body_bytes", g.max_body_bytes);
         r.get("max_open", g.max_open); r.get("max_tokens", g.max_tokens); r.get("max_n", g.max_n);
         r.get("ignore_unknown_fields", g.ignore_unknown_fields); r.get("tls", g.tls);
         r.get("cert_file", g.cert_file); r.get("key_file", g.key_file);
         r.get("max_waiting", g.max_waiting); r.get("max_waiting_per_peer", g.max_waiting_per_peer);
         r.get("idle_timeout_ms", g.idle_timeout_ms); r.get("accepts_per_peer_per_s", g.accepts_per_peer_per_s);
       }},
      {"deployment", [&](table_reader& r) {
         auto& d = c.deployment;
         r.get("host", d.host); r.get("router_port", d.router_port);
         r.get("prfaas_prefill", d.prfaas_prefill); r.get("local_prefill", d.local_prefill);
         r.get("decode", d.decode); r.get("prfaas_cluster", d.prfaas_cluster);
         r.get("local_cluster", d.local_cluster);
         r.get("router_host", d.router_host); r.get("prfaas_host", d.prfaas_host); r.get("local_host", d.local_host);
       }},
  };
  for (auto&& [key, node] : root) {
    if (key.str() == "hosts") {  // free-form: NAME = "ADDRESS"
      const toml::table* t = node.as_table();
      if (!t) fail_at(source, &node, "'hosts' must be a table of NAME = \"ADDRESS\"");
      for (auto&& [name, address] : *t) {
        const auto a = address.value<std::string>();
        if (!a || a->empty() || a->size() > 253 || a->find_first_of(" :/") != std::string::npos)
          fail_at(source, &address, "hosts." + std::string(name.str()) + " must be an address (a host name or IPv4)");
        if (c.hosts.size() >= 64) fail_at(source, &address, "at most 64 hosts");
        c.hosts[std::string(name.str())] = *a;
      }
      continue;
    }
    auto it = sections.find(std::string(key.str()));
    if (it == sections.end()) fail_at(source, &node, "unknown table [" + std::string(key.str()) + "]");
    const toml::table* t = node.as_table();
    if (!t) fail_at(source, &node, "'" + std::string(key.str()) + "' must be a table");
    table_reader r(source, *t, it->first);
    it->second(r);
    r.reject_unknown();
  }
  auto check = [&](bool ok, const std::string& what) {
    if (!ok) throw failure(errc::bad_config, source + ": " + what);
  };
  // Profiles are found beside the config file, as scenarios find theirs.
  auto beside = [&](std::string& p) {
    if (!p.empty() && std::filesystem::path(p).is_relative())
      p = (std::filesystem::path(source).parent_path() / p).lexically_normal().string();
  };
  auto& e = c.engine;
  check(e.kind == "tiny" || e.kind == "hf" || e.kind == "emulated", "engine.kind must be \"tiny\", \"hf\" or \"emulated\"");
  e.device_index();  // throws naming a bad device
  check(!e.emulated() || e.device == "cpu", "engine.device applies only to a model that computes (kind \"tiny\" or \"hf\")");
  check(e.checkpoint() == !e.model.empty(), "engine.model (a checkpoint folder) goes with engine.kind = \"hf\", and only with it");
  if (e.checkpoint()) {
    beside(e.model);
    resolve_checkpoint(c, source);
  }
  if (e.emulated()) {
    check(!model_given, "[model] does not apply to engine.kind = \"emulated\" (its KV layout follows engine.profile)");
    check(!e.profile.empty(), "engine.kind = \"emulated\" needs engine.profile");
    check(e.time_scale > 0 && e.time_scale <= 1e4, "engine.time_scale must be in (0, 10000]");
    check(e.kv_scale >= 1 && e.kv_scale <= 1e6, "engine.kv_scale must be 1..1000000");
    check(e.max_context >= 2 && e.max_context <= (1 << 20), "engine.max_context must be 2..1048576");
    beside(e.profile);
    beside(e.profile_prfaas);
    if (e.profile_prfaas.empty()) e.profile_prfaas = e.profile;
    try {
      const auto pd = profile::load_profile(e.profile);
      const auto pf = profile::load_profile(e.profile_prfaas);
      char desc[96];
      std::snprintf(desc, sizeof desc, "time_scale=%g kv_scale=%g seed=%llu", e.time_scale, e.kv_scale,
                    static_cast<unsigned long long>(e.seed));
      // S_kv is the model's: both clusters' nodes share the decode side's layout.
      auto l = profile::make_emulated_layout(pd, e.kv_scale, e.max_context,
                                            "[" + pf.name + " | " + pd.name + "] " + desc);
      c.model = l.layout;
      e.effective_kv_scale = l.effective_kv_scale;
    } catch (const failure& f) {
      if (f.code() == errc::bad_config) throw;
      throw failure(errc::bad_config, source + ": engine: " + f.what());
    }
  } else {
    check(e.profile.empty() && e.profile_prfaas.empty(), "engine.profile applies only to engine.kind = \"emulated\"");
  }
  try {
    c.model.validate();
  } catch (const failure& e) {
    throw failure(errc::bad_config, source + ": " + e.what());
  }
  // Every value has a range: a typo of a few digits is an error, not a crash or a fork bomb.
  check(c.router.threshold_tokens >= 0 && c.router.threshold_tokens <= (1 << 20), "router.threshold_tokens must be 0..1048576");
  check(c.router.deadline_ms > 0 && c.router.deadline_ms <= 3600000, "router.deadline_ms must be 1..3600000");
  check(c.router.max_in_flight > 0 && c.router.max_in_flight <= 100000, "router.max_in_flight must be 1..100000");
  check(c.router.heartbeat_ms <= 60000 && c.router.node_timeout_ms <= 600000,
        "router.heartbeat_ms must be at most 60000 and router.node_timeout_ms at most 600000");
  check(c.router.drain_ms <= 3600000 && c.router.settle_ms <= 60000,
        "router.drain_ms must be at most 3600000 and router.settle_ms at most 60000");
  check(c.router.max_attempts >= 1 && c.router.max_attempts <= 10, "router.max_attempts must be 1..10");
  check(c.router.max_message_mib >= 1 && c.router.max_message_mib <= 1024, "router.max_message_mib must be 1..1024");
  check(c.router.accepts_per_peer_per_s >= 1 && c.router.accepts_per_peer_per_s <= 100000,
        "router.accepts_per_peer_per_s must be 1..100000");
  check(c.gateway.accepts_per_peer_per_s >= 1 && c.gateway.accepts_per_peer_per_s <= 100000,
        "gateway.accepts_per_peer_per_s must be 1..100000");
  check(c.router.queue_max <= c.router.max_in_flight, "router.queue_max must be at most router.max_in_flight");
  check(c.router.heartbeat_ms > 0 && c.router.node_timeout_ms > c.router.heartbeat_ms,
        "router.node_timeout_ms must exceed router.heartbeat_ms");
  check(c.router.controller_period_ms >= 100 && c.router.controller_period_ms <= 600000,
        "router.controller_period_ms must be 100..600000");
  check(c.router.output_tokens >= 1 && c.router.output_tokens <= 65536, "router.output_tokens must be 1..65536");
  check(c.router.rebalance_period_ms >= 500 && c.router.rebalance_period_ms <= 3600000,
        "router.rebalance_period_ms must be 500..3600000");
  check(!c.router.controller || e.emulated() || (!c.router.profile_prfaas.empty() && !c.router.profile_pd.empty()),
        "router.controller needs router.profile_prfaas and router.profile_pd");
  check(!c.router.controller || c.transport.link_gbps > 0, "router.controller needs transport.link_gbps");
  beside(c.router.profile_prfaas);
  beside(c.router.profile_pd);
  check(c.node.kv_blocks > 0 && c.node.max_sequences > 0 && c.node.threads > 0,
        "node.kv_blocks, node.max_sequences and node.threads must be positive");
  check(c.node.threads <= 256, "node.threads must be 1..256");
  check(c.node.prefill_token_budget <= (1 << 24), "node.prefill_token_budget must be 0..16777216");
  check(c.node.news_gap_ms >= 0 && c.node.news_gap_ms <= 1000, "node.news_gap_ms must be 0..1000");
  check(c.node.log_format == "text" || c.node.log_format == "json", "node.log_format must be \"text\" or \"json\"");
  check(c.node.max_sequences <= 4096, "node.max_sequences must be 1..4096");
  check(static_cast<int64_t>(c.node.kv_blocks) * c.model.block_bytes() <= (int64_t{64} << 30),
        "node.kv_blocks x the block size (" + std::to_string(c.model.block_bytes()) + " bytes) must be at most 64 GiB");
  // The cache shares the node's block pool: at most half of it, so sequences always have room.
  check(static_cast<int64_t>(c.cache.budget_mib) << 20 <= static_cast<int64_t>(c.node.kv_blocks) * c.model.block_bytes() / 2,
        "cache.budget_mib must be at most half of the block pool (node.kv_blocks x " +
            std::to_string(c.model.block_bytes()) + " bytes)");
  check(c.cache.snapshot_every_blocks >= 1, "cache.snapshot_every_blocks must be at least 1");
  check(c.transport.connections >= 1 && c.transport.connections <= 64, "transport.connections must be 1..64");
  check(c.transport.max_connections >= c.transport.connections && c.transport.max_connections <= 64,
        "transport.max_connections must be transport.connections..64");
  check(c.transport.kernel_pacing_gbps >= 0 && c.transport.kernel_pacing_gbps <= 1000,
        "transport.kernel_pacing_gbps must be 0..1000 (0: no limit)");
  check(c.transport.max_inflight_mib >= 1 && c.transport.max_inflight_mib <= 16384,
        "transport.max_inflight_mib must be 1..16384");
  check(c.transport.staging_mib >= 1 && c.transport.staging_mib <= 1048576, "transport.staging_mib must be 1..1048576");
  check(c.transport.link_gbps >= 0 && c.transport.link_gbps <= 10000, "transport.link_gbps must be 0..10000");
  check(c.transport.link_delay_ms >= 0 && c.transport.link_delay_ms <= 10000, "transport.link_delay_ms must be 0..10000");
  check(!c.transport.emulate_link || c.transport.link_gbps > 0, "transport.emulate_link needs transport.link_gbps");
  for (auto [p, name] : {std::pair{c.faults.drop_frame, "drop_frame"}, {c.faults.reset_link, "reset_link"},
                         {c.faults.fail_alloc, "fail_alloc"}, {c.faults.crash_role, "crash_role"}})
    check(p >= 0 && p <= 0.5, std::string("faults.") + name + " must be a probability in 0..0.5");
  check(c.faults.delay_layer_ms <= 10000, "faults.delay_layer_ms must be 0..10000");
  check(c.transport.receive_timeout_ms >= 100 && c.transport.receive_timeout_ms <= 600000,
        "transport.receive_timeout_ms must be 100..600000");
  check(c.transport.resume_timeout_ms >= 0 && c.transport.resume_timeout_ms <= 600000,
        "transport.resume_timeout_ms must be 0..600000");
  check(c.deployment.router_port <= 65535, "deployment.router_port must be a port number");
  check(c.gateway.port <= 65535, "gateway.port must be a port number");
  check(c.gateway.replicas >= 1 && c.gateway.replicas <= 16, "gateway.replicas must be 1..16");
  check(c.control.standby_routers >= 0 && c.control.standby_routers <= 4, "control.standby_routers must be 0..4");
  if (!gateway_replicas_set && c.control.standby_routers > 0) c.gateway.replicas = 2;
  check(c.control.lease_s >= 1 && c.control.lease_s <= 60, "control.lease_s must be 1..60");
  check(c.control.etcd_port >= 0 && c.control.etcd_port <= 65534, "control.etcd_port must be a port number");
  // HOST:PORT,... (each port 1..65535): control::parse_etcd_endpoints reads it.
  for (size_t start = 0; !c.control.etcd.empty() && start <= c.control.etcd.size();) {
    const size_t comma = std::min(c.control.etcd.find(',', start), c.control.etcd.size());
    const std::string one = c.control.etcd.substr(start, comma - start);
    const size_t colon = one.rfind(':');
    int port = 0;
    const bool digits = colon != std::string::npos && colon + 1 < one.size() && one.size() - colon <= 6 &&
                        one.find_first_not_of("0123456789", colon + 1) == std::string::npos;
    if (digits) port = std::stoi(one.substr(colon + 1));
    check(digits && colon > 0 && port >= 1 && port <= 65535, "control.etcd: '" + one + "' is not HOST:PORT");
    start = comma + 1;
  }
  check(c.gateway.port == 0 || c.gateway.port + c.gateway.replicas - 1 <= 65535,
        "gateway.port + gateway.replicas - 1 must be a port number");
  check(c.gateway.max_body_bytes >= 1024 && c.gateway.max_body_bytes <= (64 << 20), "gateway.max_body_bytes must be 1024..67108864");
  check(c.gateway.max_open >= 1 && c.gateway.max_open <= 10000, "gateway.max_open must be 1..10000");
  check(c.gateway.max_tokens >= 1 && c.gateway.max_tokens <= (1 << 20), "gateway.max_tokens must be 1..1048576");
  beside(c.gateway.api_key_file);
  check(c.gateway.max_n >= 1 && c.gateway.max_n <= 128, "gateway.max_n must be 1..128");
  check(c.gateway.max_waiting >= 1 && c.gateway.max_waiting <= 100000, "gateway.max_waiting must be 1..100000");
  check(c.gateway.max_waiting_per_peer >= 1 && c.gateway.max_waiting_per_peer <= c.gateway.max_waiting,
        "gateway.max_waiting_per_peer must be 1..gateway.max_waiting");
  check(c.gateway.idle_timeout_ms >= 100 && c.gateway.idle_timeout_ms <= 3600000, "gateway.idle_timeout_ms must be 100..3600000");
  check(c.gateway.cert_file.empty() == c.gateway.key_file.empty(), "gateway.cert_file and gateway.key_file go together");
  check(c.gateway.cert_file.empty() || c.gateway.tls, "gateway.cert_file needs gateway.tls = true");
  beside(c.gateway.cert_file);
  beside(c.gateway.key_file);
  check(c.deployment.decode >= 1 && c.deployment.decode <= 64, "deployment.decode must be 1..64");
  check(c.deployment.prfaas_prefill <= 64 && c.deployment.local_prefill <= 64,
        "deployment.prfaas_prefill and deployment.local_prefill must be 0..64");
  check(c.deployment.prfaas_prefill + c.deployment.local_prefill >= 1,
        "a deployment needs at least one prefill node");
  {
    const auto& d = c.deployment;
    const bool any = !d.router_host.empty() || !d.prfaas_host.empty() || !d.local_host.empty();
    if (any) {
      check(!d.router_host.empty() && !d.prfaas_host.empty() && !d.local_host.empty(),
            "deployment.router_host, prfaas_host and local_host go together: name the host of each");
      for (const auto* h : {&d.router_host, &d.prfaas_host, &d.local_host})
        check(c.hosts.count(*h) == 1, "deployment places nodes on host '" + *h + "', which [hosts] does not name");
      check(d.router_port != 0, "a deployment across hosts needs a fixed deployment.router_port: the other hosts dial it");
    }
  }
  return c;
}

std::string served_model_name(const deployment_config& c) {
  if (!c.gateway.model.empty()) return c.gateway.model;
  if (c.engine.checkpoint()) return std::filesystem::path(c.engine.model).lexically_normal().filename().string();
  return "prfaas-" + c.engine.kind;
}

deployment_config load_config(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw failure(errc::bad_config, "cannot read config file '" + path + "'");
  std::stringstream text;
  text << in.rdbuf();
  return parse_config(text.str(), path);
}

int engine_config::device_index() const {
  if (device == "cpu") return -1;
  if (device == "cuda") return 0;
  const bool numbered = device.size() > 5 && device.size() <= 7 && device.compare(0, 5, "cuda:") == 0 &&
                        device.find_first_not_of("0123456789", 5) == std::string::npos;
  if (!numbered)
    throw failure(errc::bad_config, "engine.device must be \"cpu\", \"cuda\" or \"cuda:N\", not \"" + device + "\"");
  return std::stoi(device.substr(5));
}

}  // namespace prfaas::config

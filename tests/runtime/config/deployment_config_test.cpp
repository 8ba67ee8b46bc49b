// Config files: defaults when silent, every error names the file and line.

#include <catch2/catch.hpp>

#include "runtime/common/errc.h"
#include "runtime/config/deployment_config.h"

using namespace prfaas;

namespace {
std::string error_of(const std::string& text) {
  try {
    config::parse_config(text, "test.toml");
  } catch (const failure& f) {
    CHECK(f.code() == errc::bad_config);
    return f.what();
  }
  return "";
}
}  // namespace

TEST_CASE("an empty file gives the documented defaults") {
  const auto c = config::parse_config("", "empty.toml");
  CHECK(c.router.threshold_tokens == 1024);
  CHECK(c.deployment.prfaas_prefill == 2);
  CHECK(c.deployment.local_prefill == 1);
  CHECK(c.deployment.decode == 2);
  CHECK(c.model.fingerprint() == model::model_config{}.fingerprint());
}

TEST_CASE("values are read into their fields") {
  const auto c = config::parse_config("[router]\nthreshold_tokens = 300\n[model]\nseed = 9\nn_layers = 4\n"
                                      "[deployment]\ndecode = 3\nprfaas_cluster = \"remote\"\n", "x.toml");
  CHECK(c.router.threshold_tokens == 300);
  CHECK(c.model.seed == 9);
  CHECK(c.model.n_layers == 4);
  CHECK(c.deployment.decode == 3);
  CHECK(c.deployment.prfaas_cluster == "remote");
}

TEST_CASE("engine.device: cpu by default, cuda or cuda:N for a GPU, anything else refused by name") {
  CHECK(config::parse_config("", "x.toml").engine.device_index() == -1);
  CHECK(config::parse_config("[engine]\ndevice = \"cuda\"\n", "x.toml").engine.device_index() == 0);
  CHECK(config::parse_config("[engine]\ndevice = \"cuda:3\"\n", "x.toml").engine.device_index() == 3);
  CHECK_THAT(error_of("[engine]\ndevice = \"gpu\"\n"), Catch::Contains("engine.device must be"));
  CHECK_THAT(error_of("[engine]\ndevice = \"cuda:x\"\n"), Catch::Contains("\"cuda:x\""));
  CHECK_THAT(error_of("[engine]\ndevice = \"cuda:\"\n"), Catch::Contains("engine.device must be"));
}

TEST_CASE("a syntax error names the line") {
  CHECK_THAT(error_of("[router]\nthreshold_tokens = 12\nthis is not toml\n"), Catch::StartsWith("test.toml:3:"));
}

TEST_CASE("an unknown key or table names the line and the key") {
  const auto e = error_of("[router]\n\nthreshhold_tokens = 12\n");
  CHECK_THAT(e, Catch::StartsWith("test.toml:3:"));
  CHECK_THAT(e, Catch::Contains("threshhold_tokens"));
  CHECK_THAT(error_of("[routr]\nx = 1\n"), Catch::Contains("unknown table [routr]"));
}

TEST_CASE("a value of the wrong type or range names the line and the field") {
  const auto e = error_of("[node]\nkv_blocks = \"many\"\n");
  CHECK_THAT(e, Catch::StartsWith("test.toml:2:"));
  CHECK_THAT(e, Catch::Contains("node.kv_blocks"));
  CHECK_THAT(error_of("[model]\nheads = 3\nkv_heads = 2\n"), Catch::Contains("heads"));
  CHECK_THAT(error_of("[deployment]\ndecode = 0\n"), Catch::Contains("decode"));
}

TEST_CASE("every value has a range: sizes that would crash, exhaust memory or fork without end are refused") {
  CHECK_THAT(error_of("[node]\nthreads = 100000\n"), Catch::Contains("node.threads must be 1..256"));
  CHECK_THAT(error_of("[model]\nd_model = 100000\n"), Catch::Contains("d_model"));
  CHECK_THAT(error_of("[model]\nd_model = 16384\nffn_dim = 65536\n"), Catch::Contains("weights would exceed 32 GiB"));
  CHECK_THAT(error_of("[deployment]\ndecode = 5000\n"), Catch::Contains("deployment.decode must be 1..64"));
  CHECK_THAT(error_of("[node]\nkv_blocks = 100000000\n"), Catch::Contains("at most 64 GiB"));
  CHECK_THAT(error_of("[router]\ndeadline_ms = 2147483647\n"), Catch::Contains("router.deadline_ms must be 1..3600000"));
  CHECK_THAT(error_of("[transport]\nmax_inflight_mib = 100000\n"), Catch::Contains("max_inflight_mib"));
  CHECK_THAT(error_of("[faults]\ncrash_role = 0.9\n"), Catch::Contains("faults.crash_role"));
  CHECK_THAT(error_of("[faults]\nseed = \"x\"\n"), Catch::Contains("faults.seed"));
  CHECK(error_of("[node]\nthreads = 256\n[deployment]\ndecode = 64\n").empty());  // the bounds themselves are fine
}

TEST_CASE("a missing file is a clear error") {
  try {
    config::load_config("/nonexistent/prfaas.toml");
    FAIL("no error");
  } catch (const failure& f) {
    CHECK_THAT(f.what(), Catch::Contains("/nonexistent/prfaas.toml"));
  }
}

TEST_CASE("configs/default.toml spells out exactly the built-in defaults") {
  const auto file = config::load_config(PRFAAS_SOURCE_DIR "/configs/default.toml");
  const config::deployment_config builtin;
  CHECK(file.model.fingerprint() == builtin.model.fingerprint());
  CHECK(file.router.threshold_tokens == builtin.router.threshold_tokens);
  CHECK(file.router.deadline_ms == builtin.router.deadline_ms);
  CHECK(file.router.max_in_flight == builtin.router.max_in_flight);
  CHECK(file.router.pull_min_tokens == builtin.router.pull_min_tokens);
  CHECK(file.router.bandwidth_abundant == builtin.router.bandwidth_abundant);
  CHECK(file.router.max_attempts == builtin.router.max_attempts);
  CHECK(file.router.queue_max == builtin.router.queue_max);
  CHECK(file.router.drain_ms == builtin.router.drain_ms);
  CHECK(file.router.settle_ms == builtin.router.settle_ms);
  CHECK(file.node.kv_blocks == builtin.node.kv_blocks);
  CHECK(file.cache.budget_mib == builtin.cache.budget_mib);
  CHECK(file.cache.snapshot_every_blocks == builtin.cache.snapshot_every_blocks);
  CHECK(file.transport.connections == builtin.transport.connections);
  CHECK(file.transport.emulate_link == builtin.transport.emulate_link);
  CHECK(file.deployment.prfaas_prefill == builtin.deployment.prfaas_prefill);
  CHECK(file.deployment.decode == builtin.deployment.decode);
  CHECK(file.control.standby_routers == builtin.control.standby_routers);
  CHECK(file.control.etcd == builtin.control.etcd);
  CHECK(file.control.lease_s == builtin.control.lease_s);
  CHECK(file.control.etcd_port == builtin.control.etcd_port);
  CHECK(config::load_config(PRFAAS_SOURCE_DIR "/configs/two-cluster-1g.toml").transport.link_gbps == 1.0);
}

TEST_CASE("standby routers' settings are in range, an etcd list is HOST:PORT pairs") {
  const auto c = config::parse_config("[control]\nstandby_routers = 1\netcd = \"10.0.0.1:2379,10.0.0.2:2379\"\nlease_s = 3\n", "c.toml");
  CHECK(c.control.standby());
  CHECK(c.control.lease_s == 3);
  CHECK_THROWS_WITH(config::parse_config("[control]\netcd = \"10.0.0.1\"\n", "c.toml"), Catch::Contains("control.etcd"));
  CHECK_THROWS_WITH(config::parse_config("[control]\nstandby_routers = 9\n", "c.toml"), Catch::Contains("standby_routers"));
  CHECK_THROWS_WITH(config::parse_config("[control]\nlease_s = 0\n", "c.toml"), Catch::Contains("lease_s"));
}

TEST_CASE("a deployment with standby routers gets two gateway doors unless it asks for a number") {
  CHECK(config::parse_config("", "c.toml").gateway.replicas == 1);
  CHECK(config::parse_config("[control]\nstandby_routers = 1\n", "c.toml").gateway.replicas == 2);
  CHECK(config::parse_config("[control]\nstandby_routers = 1\n[gateway]\nreplicas = 1\n", "c.toml").gateway.replicas == 1);
  CHECK(config::parse_config("[gateway]\nreplicas = 3\n", "c.toml").gateway.replicas == 3);
}

TEST_CASE("an emulated engine takes its KV layout from its profile, its mistakes name the field") {
  const std::string profiles = PRFAAS_SOURCE_DIR "/profiles/";
  const auto c = config::parse_config("[engine]\nkind = \"emulated\"\nprofile = \"" + profiles +
                                          "h20-1t-hybrid.toml\"\nprofile_prfaas = \"" + profiles +
                                          "h200-1t-hybrid.toml\"\ntime_scale = 10\nkv_scale = 256\n[node]\nkv_blocks = 4096\n",
                                      "emulated.toml");
  CHECK(c.engine.emulated());
  CHECK(c.model.block_tokens == 512);
  CHECK(c.model.max_context == 135168);
  CHECK(c.engine.effective_kv_scale == Approx(256).epsilon(0.1));
  CHECK_THAT(c.model.fingerprint(), Catch::StartsWith("emulated [8xH200"));
  CHECK(c.model.fingerprint() != model::model_config{}.fingerprint());
  CHECK_THAT(error_of("[engine]\nkind = \"gpu\"\n"), Catch::Contains("engine.kind must be"));
  CHECK_THAT(error_of("[engine]\nkind = \"emulated\"\n"), Catch::Contains("needs engine.profile"));
  CHECK_THAT(error_of("[engine]\nkind = \"emulated\"\nprofile = \"missing.toml\"\n"), Catch::Contains("missing.toml"));
  CHECK_THAT(error_of("[engine]\nkind = \"emulated\"\nprofile = \"" + profiles + "h20-1t-hybrid.toml\"\n[model]\nd_model = 64\n"),
             Catch::Contains("[model] does not apply"));
  CHECK_THAT(error_of("[engine]\nkind = \"emulated\"\nprofile = \"" + profiles + "h20-1t-hybrid.toml\"\ntime_scale = 0\n"),
             Catch::Contains("engine.time_scale"));
  CHECK_THAT(error_of("[engine]\nprofile = \"x.toml\"\n"), Catch::Contains("only to engine.kind"));
  CHECK_THAT(error_of("[node]\nprefill_token_budget = 99999999\n"), Catch::Contains("node.prefill_token_budget"));
}

TEST_CASE("a deployment across hosts names each group's host in [hosts] and fixes the router's port") {
  const std::string hosts = "[hosts]\ncore = \"10.0.0.1\"\nfar = \"10.0.1.2\"\nnear = \"10.0.2.2\"\n";
  const auto c = config::parse_config(
      hosts + "[deployment]\nrouter_host = \"core\"\nprfaas_host = \"far\"\nlocal_host = \"near\"\nrouter_port = 7000\n",
      "hosts.toml");
  CHECK(c.deployment.across_hosts());
  CHECK(c.address_of(c.deployment.prfaas_host) == "10.0.1.2");
  CHECK(c.address_of("") == c.deployment.host);  // not across hosts: every node on deployment.host
  CHECK_THAT(error_of(hosts + "[deployment]\nrouter_host = \"core\"\nrouter_port = 7000\n"),
             Catch::Contains("go together"));
  CHECK_THAT(error_of(hosts + "[deployment]\nrouter_host = \"core\"\nprfaas_host = \"mars\"\nlocal_host = \"near\"\n"
                              "router_port = 7000\n"),
             Catch::Contains("host 'mars', which [hosts] does not name"));
  CHECK_THAT(error_of(hosts + "[deployment]\nrouter_host = \"core\"\nprfaas_host = \"far\"\nlocal_host = \"near\"\n"),
             Catch::Contains("fixed deployment.router_port"));
  CHECK_THAT(error_of("[hosts]\ncore = \"10.0.0.1:80\"\n"), Catch::Contains("test.toml:2"));
  CHECK_THAT(error_of("[hosts]\ncore = 5\n"), Catch::Contains("must be an address"));
}

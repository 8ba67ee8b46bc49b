#include "runtime/sim/scenario.h"

#include <toml++/toml.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <type_traits>

#include "runtime/common/errc.h"

namespace prfaas::sim {

double scenario::link_gbps_at(double t) const {
  double g = link_gbps;
  for (const auto& [from, gbps] : link_schedule)
    if (t >= from) g = gbps;
  return g;
}

namespace {
[[noreturn]] void fail(const std::string& path, const toml::node* n, const std::string& what) {
  throw failure(errc::bad_config, path + (n ? ":" + std::to_string(n->source().begin.line) : "") + ": " + what);
}
// A value of the right type, or `fallback` when the key is absent; a value of another type is
// an error naming the key and its line, never silently the default.
template <class T>
T typed(const std::string& path, toml::node_view<toml::node> v, T fallback, const std::string& key) {
  if (!v) return fallback;
  if (auto x = v.value<T>()) return static_cast<T>(*x);
  const char* want = std::is_same_v<T, std::string> ? "a string" : std::is_same_v<T, bool> ? "true or false"
                     : std::is_floating_point_v<T>  ? "a number" : "an integer";
  fail(path, v.node(), key + " must be " + want);
}

}  // namespace

scenario load_scenario(const std::string& path) {
  toml::table t;
  try {
    t = toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    throw failure(errc::bad_config, path + ":" + std::to_string(e.source().begin.line) + ": " + std::string(e.description()));
  }
  // Every table and key is one this loader reads: a typo is an error, never a silent default.
  static const std::map<std::string, std::vector<std::string>> known = {
      {"prfaas", {"profile", "instances"}},
      {"pd", {"profile", "instances"}},
      {"baseline", {"homogeneous_instances"}},
      {"link", {"gbps", "schedule"}},
      {"workload", {"lengths", "mu", "sigma", "min_tokens", "max_tokens", "trace", "output_tokens", "arrival", "load",
                    "rate", "on_s", "off_s"}},
      {"sim", {"requests", "seed", "prefill_token_budget", "prefix_cache_blocks", "block_tokens", "snapshot_every_blocks",
               "snapshot_cost_blocks", "control_period_s", "rebalance_period_s", "sample_period_s", "controller",
               "rebalancer"}}};
  for (auto&& [k, v] : t) {
    const auto table = known.find(std::string(k.str()));
    if (table == known.end()) fail(path, &v, "unknown table [" + std::string(k.str()) + "]");
    const toml::table* keys = v.as_table();
    if (!keys) fail(path, &v, "[" + table->first + "] must be a table");
    for (auto&& [key, value] : *keys)
      if (std::find(table->second.begin(), table->second.end(), std::string(key.str())) == table->second.end())
        fail(path, &value, "unknown key " + table->first + "." + std::string(key.str()));
  }
  scenario s;
  s.path = path;
  const auto dir = std::filesystem::path(path).parent_path();
  auto profile_at = [&](const char* table) {
    auto p = t[table]["profile"].value<std::string>();
    if (!p) fail(path, t[table].node(), std::string("[") + table + "] needs a profile");
    (std::string(table) == "pd" ? s.pd_path : s.prfaas_path) = (dir / *p).lexically_normal().string();
    return profile::load_profile((dir / *p).string());
  };
  s.prfaas = profile_at("prfaas");
  s.pd = profile_at("pd");
  s.n_prfaas = typed(path, t["prfaas"]["instances"], 0, "prfaas.instances");
  s.n_pd = typed(path, t["pd"]["instances"], 0, "pd.instances");
  if (s.n_prfaas < 0 || s.n_pd < 0 || s.n_prfaas > 100000 || s.n_pd > 100000)
    fail(path, t["prfaas"].node(), "prfaas.instances and pd.instances must be 0..100000");
  if (s.n_prfaas < 0 || s.n_pd < 2) fail(path, t["pd"].node(), "needs at least 2 local PD instances and no negative counts");
  s.homogeneous_instances = typed(path, t["baseline"]["homogeneous_instances"], s.n_prfaas + s.n_pd, "baseline.homogeneous_instances");
  s.link_gbps = typed(path, t["link"]["gbps"], 100.0, "link.gbps");
  if (const toml::array* sched = t["link"]["schedule"].as_array())
    for (const auto& e : *sched) {
      const toml::array* pair = e.as_array();
      if (!pair || pair->size() != 2 || !(*pair)[0].value<double>() || !(*pair)[1].value<double>())
        fail(path, &e, "link.schedule entries are [time_s, gbps]");
      s.link_schedule.emplace_back(*(*pair)[0].value<double>(), *(*pair)[1].value<double>());
    }
  std::sort(s.link_schedule.begin(), s.link_schedule.end());
  const auto w = t["workload"];
  s.lengths = typed(path, w["lengths"], s.lengths, "workload.lengths");
  s.mu = typed(path, w["mu"], s.mu, "workload.mu");
  s.sigma = typed(path, w["sigma"], s.sigma, "workload.sigma");
  s.min_tokens = typed(path, w["min_tokens"], s.min_tokens, "workload.min_tokens");
  s.max_tokens = typed(path, w["max_tokens"], s.max_tokens, "workload.max_tokens");
  s.trace = typed(path, w["trace"], std::string{}, "workload.trace");
  if (!s.trace.empty() && std::filesystem::path(s.trace).is_relative()) s.trace = (dir / s.trace).string();
  s.output_tokens = typed(path, w["output_tokens"], s.output_tokens, "workload.output_tokens");
  s.arrival = typed(path, w["arrival"], s.arrival, "workload.arrival");
  s.load = typed(path, w["load"], s.load, "workload.load");
  s.rate = typed(path, w["rate"], s.rate, "workload.rate");
  s.on_s = typed(path, w["on_s"], s.on_s, "workload.on_s");
  s.off_s = typed(path, w["off_s"], s.off_s, "workload.off_s");
  if (s.lengths != "lognormal" && s.lengths != "trace") fail(path, w["lengths"].node(), "workload.lengths is lognormal or trace");
  if (s.arrival != "poisson" && s.arrival != "onoff" && s.arrival != "trace")
    fail(path, w["arrival"].node(), "workload.arrival is poisson, onoff or trace");
  const auto m = t["sim"];
  s.requests = typed(path, m["requests"], s.requests, "sim.requests");
  s.seed = typed(path, m["seed"], s.seed, "sim.seed");
  s.prefill_token_budget = typed(path, m["prefill_token_budget"], s.prefill_token_budget, "sim.prefill_token_budget");
  s.prefix_cache_blocks = typed(path, m["prefix_cache_blocks"], s.prefix_cache_blocks, "sim.prefix_cache_blocks");
  s.block_tokens = typed(path, m["block_tokens"], s.block_tokens, "sim.block_tokens");
  s.snapshot_every_blocks = typed(path, m["snapshot_every_blocks"], s.snapshot_every_blocks, "sim.snapshot_every_blocks");
  s.snapshot_cost_blocks = typed(path, m["snapshot_cost_blocks"], s.snapshot_cost_blocks, "sim.snapshot_cost_blocks");
  s.control_period_s = typed(path, m["control_period_s"], s.control_period_s, "sim.control_period_s");
  s.rebalance_period_s = typed(path, m["rebalance_period_s"], s.rebalance_period_s, "sim.rebalance_period_s");
  s.sample_period_s = typed(path, m["sample_period_s"], s.sample_period_s, "sim.sample_period_s");
  s.controller = typed(path, m["controller"], s.controller, "sim.controller");
  s.rebalancer = typed(path, m["rebalancer"], s.rebalancer, "sim.rebalancer");
  if (s.snapshot_every_blocks < 1 || s.snapshot_cost_blocks < 0 || s.block_tokens < 1)
    fail(path, t["sim"].node(), "sim.snapshot_every_blocks and sim.block_tokens must be at least 1, snapshot_cost_blocks >= 0");
  if (s.requests < 1 || s.control_period_s <= 0 || s.rebalance_period_s <= 0 || s.sample_period_s <= 0)
    fail(path, t["sim"].node(), "sim values must be positive");
  // Every number has a range: NaN, infinities and sizes that would exhaust memory or time are
  // refused by name.
  auto range = [&](double v, double lo, double hi, const std::string& key, const toml::node* at) {
    if (!std::isfinite(v) || v < lo || v > hi)
      fail(path, at, key + " must be a number in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
  };
  range(s.link_gbps, 1e-6, 1e6, "link.gbps", t["link"].node());
  for (const auto& [from, gbps] : s.link_schedule) {
    range(from, 0, 1e9, "link.schedule time_s", t["link"].node());
    range(gbps, 1e-6, 1e6, "link.schedule gbps", t["link"].node());
  }
  range(s.homogeneous_instances, 2, 200000, "baseline.homogeneous_instances", t["baseline"].node());
  range(s.mu, 0, 20, "workload.mu", w.node());
  range(s.sigma, 0, 10, "workload.sigma", w.node());
  range(s.min_tokens, 1, 1 << 24, "workload.min_tokens", w.node());
  range(s.max_tokens, s.min_tokens, 1 << 24, "workload.max_tokens", w.node());
  range(s.output_tokens, 1, 1 << 20, "workload.output_tokens", w.node());
  range(s.load, 1e-6, 100, "workload.load", w.node());
  range(s.rate, 0, 1e7, "workload.rate", w.node());
  range(s.on_s, 1e-3, 1e7, "workload.on_s", w.node());
  range(s.off_s, 1e-3, 1e7, "workload.off_s", w.node());
  range(s.requests, 1, kMaxRequests, "sim.requests", m.node());
  range(s.prefill_token_budget, 0, 1e9, "sim.prefill_token_budget", m.node());
  range(static_cast<double>(s.prefix_cache_blocks), 0, 1e9, "sim.prefix_cache_blocks", m.node());
  range(s.block_tokens, 1, 1 << 16, "sim.block_tokens", m.node());
  range(s.snapshot_every_blocks, 1, 1 << 20, "sim.snapshot_every_blocks", m.node());
  range(s.snapshot_cost_blocks, 0, 1 << 20, "sim.snapshot_cost_blocks", m.node());
  range(s.control_period_s, 0.01, 1e6, "sim.control_period_s", m.node());
  range(s.rebalance_period_s, 0.01, 1e7, "sim.rebalance_period_s", m.node());
  range(s.sample_period_s, 0.01, 1e6, "sim.sample_period_s", m.node());
  return s;
}

}  // namespace prfaas::sim

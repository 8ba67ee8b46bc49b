#include "runtime/sim/scenario.h"

#include <toml++/toml.h>

#include <algorithm>
#include <filesystem>

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
}  // namespace

scenario load_scenario(const std::string& path) {
  toml::table t;
  try {
    t = toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    throw failure(errc::bad_config, path + ":" + std::to_string(e.source().begin.line) + ": " + std::string(e.description()));
  }
  static const std::vector<std::string> tables = {"prfaas", "pd", "baseline", "link", "workload", "sim"};
  for (auto&& [k, v] : t)
    if (std::find(tables.begin(), tables.end(), std::string(k.str())) == tables.end())
      fail(path, &v, "unknown table [" + std::string(k.str()) + "]");
  scenario s;
  s.path = path;
  const auto dir = std::filesystem::path(path).parent_path();
  auto profile_at = [&](const char* table) {
    auto p = t[table]["profile"].value<std::string>();
    if (!p) fail(path, t[table].node(), std::string("[") + table + "] needs a profile");
    return profile::load_profile((dir / *p).string());
  };
  s.prfaas = profile_at("prfaas");
  s.pd = profile_at("pd");
  s.n_prfaas = t["prfaas"]["instances"].value_or(0);
  s.n_pd = t["pd"]["instances"].value_or(0);
  if (s.n_prfaas < 0 || s.n_pd < 2) fail(path, t["pd"].node(), "needs at least 2 local PD instances and no negative counts");
  s.homogeneous_instances = t["baseline"]["homogeneous_instances"].value_or(s.n_prfaas + s.n_pd);
  s.link_gbps = t["link"]["gbps"].value_or(100.0);
  if (const toml::array* sched = t["link"]["schedule"].as_array())
    for (const auto& e : *sched) {
      const toml::array* pair = e.as_array();
      if (!pair || pair->size() != 2 || !(*pair)[0].value<double>() || !(*pair)[1].value<double>())
        fail(path, &e, "link.schedule entries are [time_s, gbps]");
      s.link_schedule.emplace_back(*(*pair)[0].value<double>(), *(*pair)[1].value<double>());
    }
  std::sort(s.link_schedule.begin(), s.link_schedule.end());
  const auto w = t["workload"];
  s.lengths = w["lengths"].value_or(s.lengths);
  s.mu = w["mu"].value_or(s.mu);
  s.sigma = w["sigma"].value_or(s.sigma);
  s.min_tokens = w["min_tokens"].value_or(s.min_tokens);
  s.max_tokens = w["max_tokens"].value_or(s.max_tokens);
  s.trace = w["trace"].value_or(std::string{});
  if (!s.trace.empty() && std::filesystem::path(s.trace).is_relative()) s.trace = (dir / s.trace).string();
  s.output_tokens = w["output_tokens"].value_or(s.output_tokens);
  s.arrival = w["arrival"].value_or(s.arrival);
  s.load = w["load"].value_or(s.load);
  s.rate = w["rate"].value_or(s.rate);
  s.on_s = w["on_s"].value_or(s.on_s);
  s.off_s = w["off_s"].value_or(s.off_s);
  if (s.lengths != "lognormal" && s.lengths != "trace") fail(path, w["lengths"].node(), "workload.lengths is lognormal or trace");
  if (s.arrival != "poisson" && s.arrival != "onoff" && s.arrival != "trace")
    fail(path, w["arrival"].node(), "workload.arrival is poisson, onoff or trace");
  const auto m = t["sim"];
  s.requests = m["requests"].value_or(s.requests);
  s.seed = m["seed"].value_or(s.seed);
  s.prefill_token_budget = m["prefill_token_budget"].value_or(s.prefill_token_budget);
  s.prefix_cache_blocks = m["prefix_cache_blocks"].value_or(s.prefix_cache_blocks);
  s.block_tokens = m["block_tokens"].value_or(s.block_tokens);
  s.snapshot_every_blocks = m["snapshot_every_blocks"].value_or(s.snapshot_every_blocks);
  s.snapshot_cost_blocks = m["snapshot_cost_blocks"].value_or(s.snapshot_cost_blocks);
  s.control_period_s = m["control_period_s"].value_or(s.control_period_s);
  s.rebalance_period_s = m["rebalance_period_s"].value_or(s.rebalance_period_s);
  s.sample_period_s = m["sample_period_s"].value_or(s.sample_period_s);
  s.controller = m["controller"].value_or(s.controller);
  s.rebalancer = m["rebalancer"].value_or(s.rebalancer);
  if (s.snapshot_every_blocks < 1 || s.snapshot_cost_blocks < 0 || s.block_tokens < 1)
    fail(path, t["sim"].node(), "sim.snapshot_every_blocks and sim.block_tokens must be at least 1, snapshot_cost_blocks >= 0");
  if (s.requests < 1 || s.control_period_s <= 0 || s.rebalance_period_s <= 0 || s.sample_period_s <= 0)
    fail(path, t["sim"].node(), "sim values must be positive");
  return s;
}

}  // namespace prfaas::sim

#include "runtime/sim/scenario.h"


#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <type_traits>

#include "runtime/common/errc.h"
#include "runtime/config/toml_reader.h"

namespace prfaas::sim {

double scenario::link_gbps_at(double t) const {
  double g = link_gbps;
  for (const auto& [from, gbps] : link_schedule)
    if (t >= from) g = gbps;
  return g;
}


scenario load_scenario(const std::string& path) {
  const toml::table t = config::parse_toml_file(path);
  // Every table and key is one this loader reads: a typo is an error, never a silent default.
  config::table_reader top(path, t, "");
  auto prfaas = top.table("prfaas"), pd = top.table("pd"), baseline = top.table("baseline"), link = top.table("link"),
       w = top.table("workload"), m = top.table("sim");
  top.reject_unknown();
  scenario s;
  s.path = path;
  const auto dir = std::filesystem::path(path).parent_path();
  auto profile_at = [&](config::table_reader& r, const char* table) {
    std::string p;
    if (!r.get("profile", p)) r.fail(std::string("[") + table + "] needs a profile");
    (std::string(table) == "pd" ? s.pd_path : s.prfaas_path) = (dir / p).lexically_normal().string();
    return profile::load_profile((dir / p).string());
  };
  s.prfaas = profile_at(prfaas, "prfaas");
  s.pd = profile_at(pd, "pd");
  prfaas.get("instances", s.n_prfaas);
  prfaas.get("staging_gib", s.staging_gib);
  pd.get("instances", s.n_pd);
  if (s.n_prfaas > 100000 || s.n_pd > 100000) prfaas.fail("prfaas.instances and pd.instances must be 0..100000");
  if (s.n_pd < 2) pd.fail("needs at least 2 local PD instances");
  s.homogeneous_instances = s.n_prfaas + s.n_pd;
  baseline.get("homogeneous_instances", s.homogeneous_instances);
  s.link_gbps = 100.0;
  link.get("gbps", s.link_gbps);
  if (const toml::node* sched_node = link.node("schedule")) {
    const toml::array* sched = sched_node->as_array();
    if (!sched) link.fail(sched_node, "link.schedule is an array of [time_s, gbps]");
    for (const auto& e : *sched) {
      const toml::array* pair = e.as_array();
      if (!pair || pair->size() != 2 || !(*pair)[0].value<double>() || !(*pair)[1].value<double>())
        config::fail_at(path, &e, "link.schedule entries are [time_s, gbps]");
      s.link_schedule.emplace_back(*(*pair)[0].value<double>(), *(*pair)[1].value<double>());
    }
  }
  std::sort(s.link_schedule.begin(), s.link_schedule.end());
  w.get("lengths", s.lengths);
  w.get("mu", s.mu);
  w.get("sigma", s.sigma);
  w.get("min_tokens", s.min_tokens);
  w.get("max_tokens", s.max_tokens);
  s.trace.clear();
  w.get("trace", s.trace);
  if (!s.trace.empty() && std::filesystem::path(s.trace).is_relative()) s.trace = (dir / s.trace).string();
  w.get("output_tokens", s.output_tokens);
  w.get("arrival", s.arrival);
  w.get("load", s.load);
  w.get("rate", s.rate);
  w.get("on_s", s.on_s);
  w.get("off_s", s.off_s);
  if (s.lengths != "lognormal" && s.lengths != "trace") w.fail(w.node("lengths"), "workload.lengths is lognormal or trace");
  if (s.arrival != "poisson" && s.arrival != "onoff" && s.arrival != "trace")
    w.fail(w.node("arrival"), "workload.arrival is poisson, onoff or trace");
  m.get("requests", s.requests);
  m.get("seed", s.seed);
  m.get("prefill_token_budget", s.prefill_token_budget);
  m.get("prefix_cache_blocks", s.prefix_cache_blocks);
  m.get("block_tokens", s.block_tokens);
  m.get("snapshot_every_blocks", s.snapshot_every_blocks);
  m.get("snapshot_cost_blocks", s.snapshot_cost_blocks);
  m.get("control_period_s", s.control_period_s);
  m.get("rebalance_period_s", s.rebalance_period_s);
  m.get("sample_period_s", s.sample_period_s);
  m.get("controller", s.controller);
  m.get("rebalancer", s.rebalancer);
  for (auto* r : {&prfaas, &pd, &baseline, &link, &w, &m}) r->reject_unknown();
  if (s.snapshot_every_blocks < 1 || s.snapshot_cost_blocks < 0 || s.block_tokens < 1)
    config::fail_at(path, t["sim"].node(), "sim.snapshot_every_blocks and sim.block_tokens must be at least 1, snapshot_cost_blocks >= 0");
  if (s.requests < 1 || s.control_period_s <= 0 || s.rebalance_period_s <= 0 || s.sample_period_s <= 0)
    config::fail_at(path, t["sim"].node(), "sim values must be positive");
  // Every number has a range: NaN, infinities and sizes that would exhaust memory or time are
  // refused by name.
  auto range = [&](double v, double lo, double hi, const std::string& key, const toml::node* at) {
    if (!std::isfinite(v) || v < lo || v > hi)
      config::fail_at(path, at, key + " must be a number in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
  };
  range(s.link_gbps, 1e-6, 1e6, "link.gbps", t["link"].node());
  for (const auto& [from, gbps] : s.link_schedule) {
    range(from, 0, 1e9, "link.schedule time_s", t["link"].node());
    range(gbps, 1e-6, 1e6, "link.schedule gbps", t["link"].node());
  }
  range(s.homogeneous_instances, 2, 200000, "baseline.homogeneous_instances", t["baseline"].node());
  range(s.staging_gib, 0, 1e6, "prfaas.staging_gib", t["prfaas"].node());
  range(s.mu, 0, 20, "workload.mu", w.where());
  range(s.sigma, 0, 10, "workload.sigma", w.where());
  range(s.min_tokens, 1, 1 << 24, "workload.min_tokens", w.where());
  range(s.max_tokens, s.min_tokens, 1 << 24, "workload.max_tokens", w.where());
  range(s.output_tokens, 1, 1 << 20, "workload.output_tokens", w.where());
  range(s.load, 1e-6, 100, "workload.load", w.where());
  range(s.rate, 0, 1e7, "workload.rate", w.where());
  range(s.on_s, 1e-3, 1e7, "workload.on_s", w.where());
  range(s.off_s, 1e-3, 1e7, "workload.off_s", w.where());
  range(s.requests, 1, kMaxRequests, "sim.requests", m.where());
  range(s.prefill_token_budget, 0, 1e9, "sim.prefill_token_budget", m.where());
  range(static_cast<double>(s.prefix_cache_blocks), 0, 1e9, "sim.prefix_cache_blocks", m.where());
  range(s.block_tokens, 1, 1 << 16, "sim.block_tokens", m.where());
  range(s.snapshot_every_blocks, 1, 1 << 20, "sim.snapshot_every_blocks", m.where());
  range(s.snapshot_cost_blocks, 0, 1 << 20, "sim.snapshot_cost_blocks", m.where());
  range(s.control_period_s, 0.01, 1e6, "sim.control_period_s", m.where());
  range(s.rebalance_period_s, 0.01, 1e7, "sim.rebalance_period_s", m.where());
  range(s.sample_period_s, 0.01, 1e6, "sim.sample_period_s", m.where());
  return s;
}

}  // namespace prfaas::sim

#pragma once
// What the router hears from its nodes beside requests: each prefill node's latest link report,
// each node's latest cache statistics, and the inter-cluster link's capacity made of them
// (policy::link_capacity: configured, then said, then measured).  Status, /metrics, the egress
// log and the threshold controller read this one view.  The clock is passed in.

#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "actors/messages.hpp"
#include "runtime/metrics/exposition.h"
#include "runtime/policy/link_capacity.h"

namespace prfaas::actors {

class node_telemetry {
 public:
  using clock_type = std::chrono::steady_clock;
  explicit node_telemetry(double configured_gbps = 0) : configured_(configured_gbps), capacity_(configured_gbps) {}

  // A prefill node's report: kept, its measurement folded into the capacity; a changed
  // capacity, and while KV crosses the link its use once a second, are logged.
  void link(const link_report& m, clock_type::time_point now);
  // Every node's latest cache statistics, as the cache directory holds them (nodes send their
  // updates to it, not to the router): asked for when status or metrics are.
  void caches(const std::vector<cache_stats>& all) {
    caches_.clear();
    for (const auto& c : all) caches_[c.node] = c;
  }
  void forget(const std::string& node);
  // `link set` / `chaos link`: the rate said (restore: the configured one again).
  void said(double gbps) { capacity_.said(gbps); }
  void restored() { capacity_.said(configured_); }

  double egress_gbps() const;       // the PrfaaS prefill nodes' egress, summed
  double capacity_gbps() const { return capacity_.gbps(); }
  void write_metrics(metrics::exposition& page) const;
  void fill(router_status& s) const;

 private:
  double configured_;
  policy::link_capacity capacity_;
  std::map<std::string, link_report> links_;   // latest report per prefill node
  std::map<std::string, cache_stats> caches_;  // latest statistics per node
  clock_type::time_point last_egress_log_{};
  uint64_t link_reports_ = 0;  // heard since the router started
};

}  // namespace prfaas::actors

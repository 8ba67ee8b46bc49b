#include "actors/node_telemetry.hpp"

#include <spdlog/spdlog.h>

namespace prfaas::actors {

void node_telemetry::link(const link_report& m, clock_type::time_point now) {
  ++link_reports_;
  links_[m.node] = m;
  if (m.prfaas) capacity_.measured(m.node, m.measured_gbps);
  if (const auto before = capacity_.measured_change())
    spdlog::info("router: the inter-cluster link's capacity is {:.3f} Gbps, as the PrfaaS nodes measure it (was {:.3f})",
                 capacity_.gbps(), *before);
  const double egress = egress_gbps();
  if (egress <= 0 || now - last_egress_log_ < std::chrono::seconds(1)) return;
  last_egress_log_ = now;
  const double cap = capacity_.gbps();  // the capacity now, as status and the controller read it
  if (cap > 0)
    spdlog::info("router: PrfaaS egress {:.3f} Gbps of {:.3f} Gbps link ({:.1f} % utilised)", egress, cap, 100 * egress / cap);
  else
    spdlog::info("router: PrfaaS egress {:.3f} Gbps", egress);
}

void node_telemetry::forget(const std::string& node) {
  links_.erase(node);
  caches_.erase(node);
  capacity_.forget(node);
}

double node_telemetry::egress_gbps() const {
  double egress = 0;
  for (const auto& [name, l] : links_)
    if (l.prfaas) egress += l.egress_gbps;
  return egress;
}

void node_telemetry::write_metrics(metrics::exposition& page) const {
  using metrics::kind;
  page.family("prfaas_link_reports_total", kind::counter, "Link reports heard from the prefill nodes (by time, not by request).");
  page.sample({}, static_cast<double>(link_reports_));
  page.family("prfaas_link_capacity_bytes_per_second", kind::gauge, "The inter-cluster link's capacity the router plans with (0: unknown).");
  page.sample({}, capacity_.gbps() * 1e9 / 8);
  page.family("prfaas_link_egress_bytes_per_second", kind::gauge, "KV egress of each prefill node over its links, last report period.");
  for (const auto& [name, l] : links_) page.sample({{"node", name}}, l.egress_gbps * 1e9 / 8);
  page.family("prfaas_link_utilisation_ratio", kind::gauge, "Each prefill node's egress over its share of the link (PrfaaS nodes).");
  for (const auto& [name, l] : links_)
    if (l.capacity_gbps > 0) page.sample({{"node", name}}, l.egress_gbps / l.capacity_gbps);
  page.family("prfaas_link_rtt_seconds", kind::gauge, "Worst smoothed TCP round trip of each prefill node's KV connections.");
  for (const auto& [name, l] : links_) page.sample({{"node", name}}, l.rtt_us / 1e6);
  page.family("prfaas_link_in_flight_bytes", kind::gauge, "KV bytes each prefill node posted and has not written yet.");
  for (const auto& [name, l] : links_) page.sample({{"node", name}}, static_cast<double>(l.bytes_in_flight));
  page.family("prfaas_link_retransmits_total", kind::counter, "TCP retransmits on each prefill node's KV connections.");
  for (const auto& [name, l] : links_) page.sample({{"node", name}}, l.retransmits);
  struct family { const char* name; kind k; const char* help; double (*value)(const cache_stats&); };
  static const family cache_families[] = {
      {"prfaas_cache_lookups_total", kind::counter, "Prefix cache lookups, by node.",
       [](const cache_stats& c) { return static_cast<double>(c.lookups); }},
      {"prfaas_cache_hits_total", kind::counter, "Prefix cache lookups that found a prefix, by node.",
       [](const cache_stats& c) { return static_cast<double>(c.hits); }},
      {"prfaas_cache_misses_total", kind::counter, "Prefix cache lookups that found nothing, by node.",
       [](const cache_stats& c) { return static_cast<double>(c.lookups - c.hits); }},
      {"prfaas_cache_hit_tokens_total", kind::counter, "Prompt tokens found in the prefix cache, by node.",
       [](const cache_stats& c) { return static_cast<double>(c.hit_tokens); }},
      {"prfaas_cache_lookup_tokens_total", kind::counter, "Prompt tokens looked up in the prefix cache, by node.",
       [](const cache_stats& c) { return static_cast<double>(c.lookup_tokens); }},
      {"prfaas_cache_evictions_total", kind::counter, "Prefix cache evictions, by node.",
       [](const cache_stats& c) { return static_cast<double>(c.evictions); }},
      {"prfaas_cache_bytes", kind::gauge, "Bytes held by each node's prefix cache.",
       [](const cache_stats& c) { return static_cast<double>(c.bytes); }},
  };
  for (const auto& f : cache_families) {
    page.family(f.name, f.k, f.help);
    for (const auto& [name, c] : caches_) page.sample({{"node", name}}, f.value(c));
  }
}

void node_telemetry::fill(router_status& s) const {
  for (const auto& [name, l] : links_) s.links.push_back(l);
  for (const auto& [name, c] : caches_) s.caches.push_back(c);
  s.prfaas_egress_gbps = egress_gbps();
  s.link_gbps = capacity_.gbps();
  s.link_source = capacity_.from_name();
}

}  // namespace prfaas::actors

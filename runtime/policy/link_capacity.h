#pragma once
// The inter-cluster link's capacity as the router plans with it: one value that status, the
// metrics, the egress log and the threshold controller all read.
//
// It is what was said last (the config's transport.link_gbps, then `prfaas link set` or
// `prfaas chaos link rate|restore`) until the PrfaaS nodes measure the link: each report
// carries what TCP measured while the node's KV waited for the network
// (transport::link_summary::measured_bps; nothing while the node is idle, and nothing on a link
// paced in user space, whose rate is the one said).  The nodes share the link, so the capacity
// is the sum of their latest measurements; when they all go idle the last sum stays, until
// something new is said or measured.
//
//   link_capacity cap(config_gbps);
//   cap.measured("prfaas-prefill-0", report.measured_gbps);
//   cap.said(0.1);                                   // chaos link rate --gbps 0.1
//   double gbps = cap.gbps();                        // 0: unknown

#include <map>
#include <optional>
#include <string>

namespace prfaas::policy {

class link_capacity {
 public:
  enum class source { configured, said, measured };
  explicit link_capacity(double configured_gbps) : gbps_(configured_gbps) {}

  // An operator's statement: it replaces any measurement.
  void said(double gbps);
  // A node's latest measurement (0: it measures nothing now).
  void measured(const std::string& node, double gbps);
  // A node that is gone measures nothing any more.
  void forget(const std::string& node);

  double gbps() const { return gbps_; }
  // A measured capacity a tenth or more away from the last one told (the config's, a
  // statement, or a measurement returned here): returns the one told before and takes this as
  // told.  nullopt: nothing worth a log line.
  std::optional<double> measured_change();
  source from() const { return from_; }
  const char* from_name() const;

 private:
  double gbps_;
  source from_ = source::configured;
  std::map<std::string, double> nodes_;  // latest measurement per node, since the last statement
  double told_ = gbps_;
};

}  // namespace prfaas::policy

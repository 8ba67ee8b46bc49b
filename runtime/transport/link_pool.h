#pragma once
// A node's KV links (carrier.h), one per peer, shared between the thread that sends on them (a prefill
// actor) and the one that reports on them (telemetry).  A link found broken is replaced by a
// fresh one on the next get(); so is an idle link whose path needs more connections than it
// has (path_sizing.h: the bandwidth-delay product its TCP_INFO measured over one connection's
// window, up to options.max_connections).  Thread-safe.  Limit: max_links peers.

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "runtime/transport/carrier.h"

namespace prfaas::transport {

class link_pool {
 public:
  // Links are made by `carrier` (carrier.h: TCP between nodes, loopback in one process).
  link_pool(std::shared_ptr<carrier> carrier, link_options options, std::shared_ptr<pacer> egress_pacer,
            size_t max_links = 256);

  // The link to `peer` ("HOST:PORT"), connected on first use or after it broke.
  std::shared_ptr<carrier_link> get(const std::string& peer);
  std::vector<link_stats> snapshot() const;
  const link_options& options() const { return options_; }

 private:
  // The connections the path to a peer needs, from its link's measurements (0: not known).
  int wanted(const link_stats& stats, double* bdp) const;

  std::shared_ptr<carrier> carrier_;
  link_options options_;
  size_t window_;
  std::shared_ptr<pacer> pacer_;
  size_t max_links_;
  mutable std::mutex mutex_;
  std::map<std::string, std::shared_ptr<carrier_link>> links_;
};

}  // namespace prfaas::transport

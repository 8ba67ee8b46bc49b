#include "runtime/transport/link_pool.h"

#include "runtime/common/errc.h"
#include "runtime/transport/path_sizing.h"

namespace prfaas::transport {

link_pool::link_pool(std::shared_ptr<carrier> carrier, link_options options, std::shared_ptr<pacer> egress_pacer,
                     size_t max_links)
    : carrier_(std::move(carrier)),
      options_(std::move(options)),
      window_(options_.window_per_connection ? options_.window_per_connection : window_per_connection()),
      pacer_(std::move(egress_pacer)),
      max_links_(max_links) {}

int link_pool::wanted(const link_stats& stats, double* bdp) const {
  const auto path = estimate_path(stats);
  if (!path) return 0;
  if (bdp) *bdp = path->bdp_bytes();
  return connections_for(*path, window_, options_.connections, std::max(options_.connections, options_.max_connections));
}

std::shared_ptr<carrier_link> link_pool::get(const std::string& peer) {
  auto options = options_;
  {
    std::lock_guard lock(mutex_);
    auto it = links_.find(peer);
    if (it != links_.end() && !it->second->broken()) {
      const auto& link = it->second;
      // Re-made only between transfers: nothing on it is lost or resent.
      const int want = options_.max_connections > options_.connections && link->idle() ? wanted(link->stats(), nullptr) : 0;
      if (want <= link->connection_count()) return link;
      options.connections = want;
    }
    if (it == links_.end() && links_.size() >= max_links_)
      throw failure(errc::no_capacity, "the node holds its maximum of " + std::to_string(max_links_) + " KV links");
  }
  // Connect outside the lock: the handshake may take a round trip per connection.
  auto link = carrier_->connect(parse_endpoint(peer), options, pacer_);
  std::lock_guard lock(mutex_);
  links_[peer] = link;
  return link;
}

std::vector<link_stats> link_pool::snapshot() const {
  std::vector<std::shared_ptr<carrier_link>> links;
  {
    std::lock_guard lock(mutex_);
    for (const auto& [peer, l] : links_) links.push_back(l);
  }
  std::vector<link_stats> out;
  for (const auto& l : links) {
    out.push_back(l->stats());
    out.back().wanted_connections = wanted(out.back(), &out.back().bdp_bytes);
  }
  return out;
}

}  // namespace prfaas::transport

#include "runtime/transport/link_pool.h"

#include "runtime/common/errc.h"

namespace prfaas::transport {

link_pool::link_pool(link_options options, std::shared_ptr<pacer> egress_pacer, size_t max_links)
    : options_(std::move(options)), pacer_(std::move(egress_pacer)), max_links_(max_links) {}

std::shared_ptr<kv_sender> link_pool::get(const std::string& peer) {
  {
    std::lock_guard lock(mutex_);
    auto it = links_.find(peer);
    if (it != links_.end() && !it->second->broken()) return it->second;
    if (it == links_.end() && links_.size() >= max_links_)
      throw failure(errc::no_capacity, "the node holds its maximum of " + std::to_string(max_links_) + " KV links");
  }
  // Connect outside the lock: the handshake may take a round trip per connection.
  auto link = std::make_shared<kv_sender>(parse_endpoint(peer), options_, pacer_);
  std::lock_guard lock(mutex_);
  links_[peer] = link;
  return link;
}

std::vector<link_stats> link_pool::snapshot() const {
  std::vector<std::shared_ptr<kv_sender>> links;
  {
    std::lock_guard lock(mutex_);
    for (const auto& [peer, l] : links_) links.push_back(l);
  }
  std::vector<link_stats> out;
  for (const auto& l : links) out.push_back(l->stats());
  return out;
}

}  // namespace prfaas::transport

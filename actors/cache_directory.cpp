// Cache-directory role: answers the router's prefix-match queries from kv::prefix_directory.
//
//   (match_atom, cluster, prompt) --> cached prefix tokens in that cluster

#include <caf/all.hpp>

#include "actors/messages.hpp"
#include "actors/roles.hpp"
#include "runtime/kv/prefix_directory.h"

namespace prfaas::actors {
namespace {

struct directory_state {
  node_info self;
  std::unique_ptr<kv::prefix_directory> index;
  int block_tokens = 0;
  static inline const char* name = "cache-directory";
};

using directory_actor = caf::stateful_actor<directory_state>;

caf::behavior cache_directory(directory_actor* self, config::deployment_config config, node_info info) {
  self->state.self = std::move(info);
  self->state.block_tokens = config.model.block_tokens;
  self->state.index = std::make_unique<kv::prefix_directory>(config.model.block_tokens);
  return {
      [=](atoms::status_atom) { return self->state.self; },
      [=](atoms::match_atom, const std::string& cluster, const std::vector<int32_t>& prompt) -> int32_t {
        const auto chain = kv::block_hash_chain(prompt, self->state.block_tokens);
        return self->state.index->match(cluster, chain);
      },
  };
}

}  // namespace

caf::actor spawn_cache_directory(caf::actor_system& sys, const config::deployment_config& config,
                                 node_info self) {
  return sys.spawn(cache_directory, config, std::move(self));
}

}  // namespace prfaas::actors

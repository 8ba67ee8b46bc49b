// Cache-directory role: keeps kv::prefix_directory fed with the nodes' cache updates (forwarded
// by the router) and answers the router's prefix-match queries per node.
//
//   cache_update                  --> index.apply (reset: the node starts over)
//   (drop_atom, node)             --> index.drop (the node was lost)
//   (match_atom, prompt)          --> every node's usable hit and held blocks, longest first
//   (router_atom, handle)         --> nothing: the directory only answers the router

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

using directory_self = cache_directory_actor::stateful_base<directory_state>;

cache_directory_actor::behavior_type cache_directory(directory_self* self, node_info info, int block_tokens) {
  self->state.self = std::move(info);
  self->state.block_tokens = block_tokens;
  self->state.index = std::make_unique<kv::prefix_directory>(block_tokens);
  return {
      [=](atoms::status_atom) { return self->state.self; },
      [=](const cache_update& m) {
        kv::cache_delta d{m.added_blocks, m.removed_blocks, m.added_snapshots, m.removed_snapshots};
        self->state.index->apply(m.node, m.cluster, d, m.reset);
      },
      [=](atoms::drop_atom, const std::string& node) { self->state.index->drop(node); },
      // The supervisor tells every role of a new (or lost) router; the directory only answers it.
      [=](atoms::router_atom, const caf::actor&) {},
      [=](atoms::match_atom, const std::vector<int32_t>& prompt) -> std::vector<cache_hit> {
        const auto chain = kv::reusable_chain(prompt, self->state.block_tokens);
        std::vector<cache_hit> out;
        for (auto& h : self->state.index->match(chain)) out.push_back({h.node, h.cluster, h.tokens, h.held_tokens});
        return out;
      },
  };
}

}  // namespace

cache_directory_actor spawn_cache_directory(caf::actor_system& sys, node_info self, int block_tokens) {
  PRFAAS_REQUIRE(block_tokens > 0, "the cache directory needs the model's tokens per block");
  return sys.spawn(cache_directory, std::move(self), block_tokens);
}

cache_directory_actor spawn_cache_directory(caf::actor_system& sys, const config::deployment_config& config,
                                            node_info self) {
  return spawn_cache_directory(sys, std::move(self), config.model.block_tokens);
}

}  // namespace prfaas::actors

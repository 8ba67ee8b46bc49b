// Cache-directory role: keeps kv::prefix_directory fed with the nodes' cache updates (sent by
// the nodes themselves, each for its own cache) and answers the router's prefix-match queries,
// several prompts in one message.
//
//   cache_update                  --> index.apply (reset: the node starts over), its statistics kept
//   (drop_atom, node)             --> index.drop (the node was lost): its later deltas are ignored
//                                     until it starts over (a reset)
//   (match_atom, chains)          --> per prompt's chain keys, every node's usable hit and held blocks
//   (metrics_atom)                --> each node's latest cache statistics (the router's status)
//   (router_atom, handle)         --> nothing: the directory only answers the router

#include <caf/all.hpp>
#include <spdlog/spdlog.h>

#include <functional>
#include <map>
#include <set>

#include "actors/actor_plane.hpp"
#include "actors/messages.hpp"
#include "actors/roles.hpp"
#include "actors/sender_trust.hpp"
#include "runtime/kv/prefix_directory.h"

namespace prfaas::actors {
namespace {

constexpr size_t kMaxPromptsPerMatch = 4096;  // the router batches at most its in-flight bound
constexpr size_t kMaxChainBlocks = 1 << 16;   // far beyond any context (4M tokens at 64 a block)

struct directory_state {
  node_info self;
  std::unique_ptr<kv::prefix_directory> index;
  bool trusted = false;                       // updates only from the certificate of the node they name
  std::function<std::string()> published_at;  // its HOST:PORT, for node_info::data_endpoint
  std::map<std::string, cache_stats> stats;   // the latest of each node
  std::set<std::string> dropped;              // lost nodes: deltas ignored until a reset
  uint64_t refused = 0;
  static inline const char* name = "cache-directory";
};

using directory_self = cache_directory_actor::stateful_base<directory_state>;

// A node speaks for its own cache only: the certificate its connection proved names it.
bool from_its_node(directory_self* self, const cache_update& m) {
  auto& st = self->state;
  if (!st.trusted) return true;
  const auto who = sender_identity(self);
  if (who && who->name == m.node) return true;
  if (++st.refused <= 10 || st.refused % 100 == 0)
    spdlog::warn("cache-directory: refused a cache update for {} from a sender with {} ({} refused)", m.node,
                 described(who), st.refused);
  return false;
}

cache_directory_actor::behavior_type cache_directory(directory_self* self, node_info info, int block_tokens,
                                                     bool trusted, std::function<std::string()> published_at) {
  ignore_stray_errors(self);
  self->state.self = std::move(info);
  self->state.published_at = std::move(published_at);
  self->state.trusted = trusted;
  self->state.index = std::make_unique<kv::prefix_directory>(block_tokens);
  return {
      // Its endpoint goes with its registration: nodes connect to it for their cache updates.
      [=](atoms::status_atom) {
        auto info = self->state.self;
        if (self->state.published_at) info.data_endpoint = self->state.published_at();
        return info;
      },
      [=](const cache_update& m) {
        auto& st = self->state;
        if (!from_its_node(self, m)) return;
        // A delta sent before the node was lost arrives after the router's drop: ignored.
        if (!m.reset && st.dropped.count(m.node)) return;
        st.dropped.erase(m.node);
        kv::cache_delta d{m.added_blocks, m.removed_blocks, m.added_snapshots, m.removed_snapshots};
        st.index->apply(m.node, m.cluster, d, m.reset);
        st.stats[m.node] = m.stats;
        st.stats[m.node].node = m.node;
      },
      [=](atoms::drop_atom, const std::string& node) {
        auto& st = self->state;
        st.index->drop(node);
        st.stats.erase(node);
        if (st.dropped.size() < 4096) st.dropped.insert(node);
      },
      // The supervisor tells every role of a new (or lost) router; the directory only answers it.
      [=](atoms::router_atom, const caf::actor&) {},
      // The router sends each prompt's chain keys (kv::reusable_chain), not its tokens: 8 bytes a
      // block instead of 4 a token, and the prompt crosses only to the nodes that compute with it.
      [=](atoms::match_atom, const std::vector<std::vector<uint64_t>>& chains)
          -> caf::result<std::vector<std::vector<cache_hit>>> {
        auto& st = self->state;
        if (chains.size() > kMaxPromptsPerMatch)
          return caf::make_error(errc::invalid_argument, "at most " + std::to_string(kMaxPromptsPerMatch) +
                                                             " prompts in one match");
        std::vector<std::vector<cache_hit>> out(chains.size());
        for (size_t i = 0; i < chains.size(); ++i) {
          if (chains[i].size() > kMaxChainBlocks)
            return caf::make_error(errc::invalid_argument, "a chain of " + std::to_string(chains[i].size()) +
                                                               " blocks is longer than any context");
          for (auto& h : st.index->match(chains[i])) out[i].push_back({h.node, h.cluster, h.tokens, h.held_tokens});
        }
        return out;
      },
      [=](atoms::metrics_atom) {
        std::vector<cache_stats> out;
        for (const auto& [node, s] : self->state.stats) out.push_back(s);
        return out;
      },
  };
}

}  // namespace

cache_directory_actor spawn_cache_directory(caf::actor_system& sys, node_info self, int block_tokens, bool trusted,
                                            std::function<std::string()> published_at) {
  PRFAAS_REQUIRE(block_tokens > 0, "the cache directory needs the model's tokens per block");
  return sys.spawn(cache_directory, std::move(self), block_tokens, trusted, std::move(published_at));
}

cache_directory_actor spawn_cache_directory(caf::actor_system& sys, const config::deployment_config& config,
                                            node_info self, bool trusted, std::function<std::string()> published_at) {
  return spawn_cache_directory(sys, std::move(self), config.model.block_tokens, trusted, std::move(published_at));
}

}  // namespace prfaas::actors

// Cache-directory role: keeps kv::prefix_directory fed with the nodes' cache updates (sent by
// the nodes themselves, each for its own cache) and keeps the router's copy of it current, so
// that the router matches each prompt where it routes it, without a round trip a request.
//
//   cache_update                  --> index.apply (reset: the node starts over), its statistics
//                                     kept, and its keys passed on to the router's copy when
//                                     they change it (a node sends one after every prefill)
//   (drop_atom, node)             --> index.drop (the node was lost): its later deltas are ignored
//                                     until it starts over (a reset); the drop passed on
//   (watch_atom)                  --> from a router (its certificate's role): the whole index, in
//                                     parts, after a reset; then what changes, as directory_news
//                                     gathered per round of the mailbox, at most one per gap
//   (metrics_atom)                --> each node's latest cache statistics (the router's status)
//   (router_atom, handle)         --> nothing: the router that registers this directory watches it

#include <caf/all.hpp>
#include <spdlog/spdlog.h>

#include <functional>
#include <map>
#include <set>
#include <utility>

#include "actors/actor_plane.hpp"
#include "actors/messages.hpp"
#include "actors/outbox.hpp"
#include "actors/roles.hpp"
#include "actors/sender_trust.hpp"
#include "runtime/kv/prefix_directory.h"

namespace prfaas::actors {
namespace {

// Keys per part of the view sent to a router that starts watching: each part a message well
// under the actor plane's payload bound (8 bytes a key).
constexpr size_t kSnapshotKeysPerPart = 1 << 16;

struct directory_state {
  node_info self;
  std::unique_ptr<kv::prefix_directory> index;
  bool trusted = false;                       // updates only from the certificate of the node they name
  std::function<std::string()> published_at;  // its HOST:PORT, for node_info::data_endpoint
  std::map<std::string, cache_stats> stats;   // the latest of each node
  std::set<std::string> dropped;              // lost nodes: deltas ignored until a reset
  directory_watcher_actor watcher;            // the router keeping a copy (null: none yet)
  outbox<directory_news> news;                // for it: what changed since the last news
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

// The router's copy starts over from the whole index (what was gathered for it is in it).
void send_view(directory_self* self) {
  auto& st = self->state;
  st.news.take();
  auto parts = st.index->snapshot(kSnapshotKeysPerPart);
  if (parts.empty()) return self->send(st.watcher, directory_news{true, {}, {}});  // nothing yet: start over
  for (size_t i = 0; i < parts.size(); ++i) {
    directory_news n;
    n.reset = i == 0;
    // Keys only, as in the news that follow: the copy never reads a node's statistics.
    n.updates.push_back({parts[i].node, parts[i].cluster, parts[i].reset, std::move(parts[i].delta.added_blocks), {},
                         std::move(parts[i].delta.added_snapshots), {}, {}});
    self->send(st.watcher, std::move(n));
  }
}

void send_news(directory_self* self) {
  auto& st = self->state;
  st.news.flushed();
  if (!st.watcher) return;
  if (auto n = st.news.take(self)) self->send(st.watcher, std::move(*n));
}

cache_directory_actor::behavior_type cache_directory(directory_self* self, node_info info, int block_tokens,
                                                     bool trusted, std::function<std::string()> published_at,
                                                     std::chrono::microseconds news_gap) {
  ignore_stray_errors(self);
  self->state.news = outbox<directory_news>(news_gap);
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
      [=](cache_update& m) {
        auto& st = self->state;
        if (!from_its_node(self, m)) return;
        // A delta sent before the node was lost arrives after the router's drop: ignored.
        if (!m.reset && st.dropped.count(m.node)) return;
        st.dropped.erase(m.node);
        kv::cache_delta d{m.added_blocks, m.removed_blocks, m.added_snapshots, m.removed_snapshots};
        st.index->apply(m.node, m.cluster, d, m.reset);
        m.stats.node = m.node;
        st.stats[m.node] = std::exchange(m.stats, {});
        // The router's copy holds keys only: an update that changes none (most, under short
        // prompts: the statistics moved) is no news, and no update carries the statistics.
        if (st.watcher && (m.reset || !d.empty())) st.news.add(self).updates.push_back(std::move(m));
      },
      [=](atoms::drop_atom, const std::string& node) {
        auto& st = self->state;
        st.index->drop(node);
        st.stats.erase(node);
        if (st.dropped.size() < 4096) st.dropped.insert(node);
        if (st.watcher) st.news.add(self).dropped.push_back(node);
      },
      // The supervisor tells every role of a new (or lost) router; the router that registers
      // this directory asks to watch it.
      [=](atoms::router_atom, const caf::actor&) {},
      [=](atoms::watch_atom) {
        auto& st = self->state;
        const auto who = sender_identity(self);
        const auto sender = caf::actor_cast<directory_watcher_actor>(self->current_sender());
        if (!sender || (st.trusted && (!who || who->role != "router") && sender.node() != self->node())) {
          if (++st.refused <= 10 || st.refused % 100 == 0)
            spdlog::warn("cache-directory: refused a watch from a sender with {} ({} refused)", described(who), st.refused);
          return;
        }
        st.watcher = sender;
        spdlog::info("cache-directory: the router {} keeps a copy of the index ({} nodes)",
                     caf::to_string(sender.node()), st.index->nodes());
        send_view(self);
      },
      [=](atoms::flush_atom) { send_news(self); },
      [=](atoms::metrics_atom) {
        std::vector<cache_stats> out;
        for (const auto& [node, s] : self->state.stats) out.push_back(s);
        return out;
      },
  };
}

}  // namespace

cache_directory_actor spawn_cache_directory(caf::actor_system& sys, node_info self, int block_tokens, bool trusted,
                                            std::function<std::string()> published_at,
                                            std::chrono::microseconds news_gap) {
  PRFAAS_REQUIRE(block_tokens > 0, "the cache directory needs the model's tokens per block");
  return sys.spawn(cache_directory, std::move(self), block_tokens, trusted, std::move(published_at), news_gap);
}

cache_directory_actor spawn_cache_directory(caf::actor_system& sys, const config::deployment_config& config,
                                            node_info self, bool trusted, std::function<std::string()> published_at) {
  return spawn_cache_directory(sys, std::move(self), config.model.block_tokens, trusted, std::move(published_at),
                               std::chrono::microseconds(static_cast<int64_t>(config.node.news_gap_ms * 1000)));
}

}  // namespace prfaas::actors

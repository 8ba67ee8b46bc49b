#include "runtime/security/connection_guard.h"

#include "runtime/common/socket_address.h"

// <linux/tcp.h> for the full tcp_info (bytes_acked).
#include <arpa/inet.h>
#include <dirent.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <set>
#include <vector>

namespace prfaas::security {
namespace {

using clock_type = std::chrono::steady_clock;

// An accepted TCP connection on `port` behind descriptor `fd`: its peer, and the bytes the
// peer acknowledged having been sent.
struct socket_view {
  std::string peer;
  uint64_t sent = 0;
};

bool view_of(int fd, uint16_t port, socket_view& out) {
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISSOCK(st.st_mode)) return false;
  const auto local = local_address(fd);
  if (!local || port_number(*local) != port) return false;
  int listening = 0;
  socklen_t len = sizeof listening;
  if (::getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) != 0 || listening) return false;
  const auto peer = peer_address(fd);
  if (!peer) return false;
  struct tcp_info info {};
  len = sizeof info;
  if (::getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &len) != 0 || info.tcpi_state != 1 /* TCP_ESTABLISHED */) return false;
  out.peer = host_port_text(*peer);
  out.sent = info.tcpi_bytes_acked;
  return true;
}

std::vector<int> descriptors() {
  std::vector<int> out;
  if (DIR* d = ::opendir("/proc/self/fd")) {
    while (dirent* e = ::readdir(d))
      if (e->d_name[0] != '.') out.push_back(std::atoi(e->d_name));
    ::closedir(d);
  }
  return out;
}

}  // namespace

connection_guard::connection_guard(uint16_t port, guard_options options)
    : port_(port), options_(options), log_(options.log_lines, std::chrono::seconds(1)) {
  const auto idle = std::max(options_.tick, std::min(options_.idle_tick, options_.stall_limit / 3));
  thread_ = std::thread([this, idle] {
    std::unique_lock lock(mutex_);
    while (!stopping_) {
      lock.unlock();
      const bool busy = look();
      lock.lock();
      wake_.wait_for(lock, busy ? options_.tick : idle, [&] { return stopping_ || noticed_; });
      noticed_ = false;
    }
  });
}

connection_guard::~connection_guard() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

guard_stats connection_guard::stats() const {
  std::lock_guard lock(mutex_);
  auto s = stats_;
  s.log_held = log_.held();
  return s;
}

void connection_guard::notice() {
  {
    std::lock_guard lock(mutex_);
    noticed_ = true;
  }
  wake_.notify_all();
}

void connection_guard::hold(const std::string& peer) {
  std::lock_guard lock(mutex_);
  ++held_[peer].holds;
}

void connection_guard::release(const std::string& peer) {
  std::lock_guard lock(mutex_);
  auto it = held_.find(peer);
  if (it != held_.end() && --it->second.holds <= 0) held_.erase(it);
}

bool connection_guard::hung_up(const std::string& peer) const {
  std::lock_guard lock(mutex_);
  auto it = held_.find(peer);
  return it != held_.end() && it->second.gone;
}

namespace {

// "10.0.0.7" of "10.0.0.7:51234" (and "::1" of "::1:51234"): the address a peer's slots count.
std::string host_of(const std::string& peer) {
  const auto colon = peer.rfind(':');
  return colon == std::string::npos ? peer : peer.substr(0, colon);
}

}  // namespace

bool connection_guard::look() {
  const auto now = clock_type::now();
  std::lock_guard lock(mutex_);
  ++stats_.looks;
  std::set<std::pair<int, std::string>> present;
  std::set<std::string> peers_present;
  auto shut = [&](int fd, const watched& w, const std::string& why) {
    // The descriptor may have been reused since the look: shut it only if it is still the same
    // connection.
    socket_view again;
    if (!view_of(fd, port_, again) || again.peer != w.peer) return false;
    ::shutdown(fd, SHUT_RDWR);
    if (const auto held = log_.allow(now))
      spdlog::warn("connection guard: shut down the connection from {} on port {}: {}{}", w.peer, port_, why,
                   log_budget::held_note(*held));
    return true;
  };
  for (int fd : descriptors()) {
    socket_view v;
    if (!view_of(fd, port_, v)) continue;
    const auto key = std::make_pair(fd, v.peer);
    present.insert(key);
    peers_present.insert(v.peer);
    auto [it, fresh] = conns_.try_emplace(key);
    watched& w = it->second;
    if (fresh) {
      w.peer = v.peer;
      w.first_seen = w.last_growth = now;
      w.sent = v.sent;
      ++stats_.watched;
      continue;
    }
    if (v.sent > w.sent) {
      w.sent = v.sent;
      w.last_growth = now;
      ++w.growths;
    } else if (held_.count(v.peer)) {
      w.last_growth = now;  // being answered: silence is the owner's work, not the peer's
    } else if (now - w.last_growth > options_.stall_limit) {
      if (shut(fd, w, "nothing sent to it for " + std::to_string(options_.stall_limit.count()) +
                          " ms (idle, or an unauthenticated peer stuck in its handshake)"))
        ++stats_.shut_stalled;
      present.erase(key);
    }
  }
  std::erase_if(conns_, [&](const auto& c) { return !present.count(c.first); });
  for (auto& [peer, h] : held_) h.gone = !peers_present.count(peer);
  // The bounds on connections not yet established, per address and in all: the oldest of an
  // address beyond its bound go first, then the oldest of the address holding the most.
  std::map<std::string, std::vector<std::pair<clock_type::time_point, std::pair<int, std::string>>>> pending;
  int established = 0;
  for (const auto& [key, w] : conns_) {
    if (w.growths >= options_.established_after || held_.count(w.peer)) ++established;
    else pending[host_of(w.peer)].emplace_back(w.first_seen, key);
  }
  size_t total = 0;
  for (auto& [host, conns] : pending) {
    std::sort(conns.begin(), conns.end());
    const size_t cap = static_cast<size_t>(std::max(0, options_.max_pending_per_peer));
    while (conns.size() > cap) {
      const auto key = conns.front().second;
      if (shut(key.first, conns_.at(key),
               "over the bound of " + std::to_string(cap) + " unauthenticated connections from " + host))
        ++stats_.shut_over_peer;
      conns_.erase(key);
      conns.erase(conns.begin());
    }
    total += conns.size();
  }
  const size_t cap = static_cast<size_t>(std::max(0, options_.max_pending));
  while (total > cap) {
    auto most = std::max_element(pending.begin(), pending.end(),
                                 [](const auto& a, const auto& b) { return a.second.size() < b.second.size(); });
    const auto key = most->second.front().second;
    if (shut(key.first, conns_.at(key), "over the bound of " + std::to_string(cap) + " unauthenticated connections"))
      ++stats_.shut_over_cap;
    conns_.erase(key);
    most->second.erase(most->second.begin());
    --total;
  }
  stats_.pending = static_cast<int>(total);
  stats_.established = established;
  return total > 0 || !held_.empty();
}

}  // namespace prfaas::security

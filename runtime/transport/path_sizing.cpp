#include "runtime/transport/path_sizing.h"

#include <algorithm>
#include <cmath>
#include <fstream>

namespace prfaas::transport {
namespace {

// The third field of a tcp_wmem / tcp_rmem line: the autotuning maximum.
size_t sysctl_max(const char* path) {
  std::ifstream in(path);
  size_t lo = 0, def = 0, hi = 0;
  return (in >> lo >> def >> hi) ? hi : 0;
}

}  // namespace

size_t window_per_connection() {
  const size_t w = sysctl_max("/proc/sys/net/ipv4/tcp_wmem"), r = sysctl_max("/proc/sys/net/ipv4/tcp_rmem");
  if (w == 0 || r == 0) return size_t{4} << 20;
  return std::min(w, r);
}

int connections_for(const path_estimate& path, size_t window, int min_connections, int max_connections) {
  max_connections = std::max(max_connections, min_connections);
  if (window == 0) return max_connections;
  const double need = std::ceil(path.bdp_bytes() / static_cast<double>(window));
  return static_cast<int>(std::clamp(need, static_cast<double>(min_connections), static_cast<double>(max_connections)));
}

std::optional<path_estimate> estimate_path(const link_stats& stats) {
  uint32_t rtt_us = 0;
  uint64_t delivered = 0;
  for (const auto& t : stats.tcp) {
    if (t.rtt_us > 0 && (rtt_us == 0 || t.rtt_us < rtt_us)) rtt_us = t.rtt_us;
    delivered += t.delivery_rate_bps;
  }
  const double rate = std::max(stats.capacity_gbps * 1e9 / 8, static_cast<double>(delivered));
  if (rtt_us == 0 || rate <= 0) return std::nullopt;
  return path_estimate{rtt_us / 1e6, rate};
}

}  // namespace prfaas::transport

#pragma once
// How many connections a KV link needs to fill its path.  One TCP connection keeps at most its
// socket buffers' worth of bytes in flight (the kernel autotunes them up to net.ipv4.tcp_wmem
// and tcp_rmem's maxima), so a long fat pipe (a bandwidth-delay product of tens of MB across
// datacenters) needs several: the product over one connection's window, within the config's
// bounds.  The path comes from the link's own TCP_INFO: the smallest smoothed round trip of
// its connections, and the larger of the link's known capacity and their delivery rates.
//
//   auto path = estimate_path(link.stats());          // nothing before the first bytes
//   int n = connections_for(*path, window_per_connection(), 4, 16);

#include <cstddef>
#include <optional>

#include "runtime/transport/link_stats.h"

namespace prfaas::transport {

struct path_estimate {
  double rtt_s = 0;
  double bytes_per_s = 0;
  double bdp_bytes() const { return rtt_s * bytes_per_s; }
};

// The most bytes one connection keeps in flight: the smaller of the kernel's send and receive
// buffer maxima (this host's; the peer's are taken to match), 4 MiB when they cannot be read.
size_t window_per_connection();

// ceil(bdp / window) within [min_connections, max_connections].
int connections_for(const path_estimate& path, size_t window, int min_connections, int max_connections);

// From a link's snapshot; nothing while it has no round trip measured or no rate known.
std::optional<path_estimate> estimate_path(const link_stats& stats);

}  // namespace prfaas::transport

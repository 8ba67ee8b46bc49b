// Kept apart: <linux/tcp.h> (for the full tcp_info) clashes with <netinet/tcp.h>.
#include <linux/tcp.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstddef>

#include "runtime/transport/link_stats.h"

namespace prfaas::transport {

tcp_snapshot read_tcp_info(const socket_fd& s) {
  tcp_snapshot out;
  struct tcp_info info {};
  socklen_t len = sizeof info;
  if (::getsockopt(s.get(), IPPROTO_TCP, TCP_INFO, &info, &len) != 0) return out;
  out.rtt_us = info.tcpi_rtt;
  out.rtt_var_us = info.tcpi_rttvar;
  out.total_retransmits = info.tcpi_total_retrans;
  out.snd_cwnd = info.tcpi_snd_cwnd;
  out.unacked = info.tcpi_unacked;
  if (len >= offsetof(struct tcp_info, tcpi_delivery_rate) + sizeof(info.tcpi_delivery_rate))
    out.delivery_rate_bps = info.tcpi_delivery_rate;
  if (len >= offsetof(struct tcp_info, tcpi_notsent_bytes) + sizeof(info.tcpi_notsent_bytes))
    out.notsent_bytes = info.tcpi_notsent_bytes;
  return out;
}

link_summary summarize(const std::vector<link_stats>& links) {
  link_summary s;
  for (const auto& l : links) {
    ++s.links;
    s.connections += l.connections;
    s.bytes_sent += l.bytes_sent;
    s.bytes_in_flight += l.bytes_in_flight;
    s.resumes += l.resumes;
    s.largest_bdp_bytes = std::max(s.largest_bdp_bytes, l.bdp_bytes);
    s.most_wanted_connections = std::max(s.most_wanted_connections, l.wanted_connections);
    for (const auto& t : l.tcp) {
      s.worst_rtt_us = std::max(s.worst_rtt_us, t.rtt_us);
      s.retransmits += t.total_retransmits;
      s.smallest_cwnd = s.smallest_cwnd == 0 ? t.snd_cwnd : std::min(s.smallest_cwnd, t.snd_cwnd);
      // An idle connection keeps its last estimate (perhaps of its handshake, at line rate): only
      // connections carrying data now add to the link's current rate.
      if (t.unacked > 0 || t.notsent_bytes > 0) s.delivery_rate_bps += t.delivery_rate_bps;
    }
  }
  return s;
}

double rate_meter::update(uint64_t total, std::chrono::steady_clock::time_point now) {
  if (primed_) {
    const double dt = std::chrono::duration<double>(now - last_).count();
    const uint64_t moved = total >= last_total_ ? total - last_total_ : total;  // a reset counter
    if (dt > 0) rate_ = static_cast<double>(moved) / dt;
  }
  primed_ = true;
  last_total_ = total;
  last_ = now;
  return rate_;
}

}  // namespace prfaas::transport

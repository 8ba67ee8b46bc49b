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
  if (len >= offsetof(struct tcp_info, tcpi_bytes_acked) + sizeof(info.tcpi_bytes_acked))
    out.bytes_acked = info.tcpi_bytes_acked;
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
      s.bytes_acked += t.bytes_acked;
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

bool telemetry_gate::shown::operator==(const shown& o) const {
  const auto& a = s;
  const auto& b = o.s;
  return egress_gbps == o.egress_gbps && a.bytes_in_flight == b.bytes_in_flight && a.links == b.links &&
         a.connections == b.connections && a.worst_rtt_us == b.worst_rtt_us && a.retransmits == b.retransmits &&
         a.smallest_cwnd == b.smallest_cwnd && a.delivery_rate_bps == b.delivery_rate_bps &&
         a.largest_bdp_bytes == b.largest_bdp_bytes && a.most_wanted_connections == b.most_wanted_connections;
}

telemetry_gate::look_result telemetry_gate::look(const link_summary& s, clock::time_point now) {
  seen_ = {rate_.update(s.bytes_sent, now) * 8 / 1e9, s};
  look_result r;
  r.egress_gbps = seen_.egress_gbps;
  const double delivered_gbps = acked_.update(s.bytes_acked, now) * 8 / 1e9;
  const bool backlog = s.bytes_in_flight > 0;
  if (backlog && backlog_ && delivered_gbps > 0) measured_.emplace_back(now, delivered_gbps);
  while (!measured_.empty() && (now - measured_.front().first > kMeasureWindow || measured_.size() > 256))
    measured_.pop_front();
  if (backlog && !measured_.empty()) {
    std::vector<double> v;
    for (const auto& [at, gbps] : measured_) v.push_back(gbps);
    std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(v.size() / 2), v.end());
    r.measured_gbps = v[v.size() / 2];
  }
  backlog_ = backlog;
  r.next = seen_.egress_gbps == 0 && s.bytes_in_flight == 0 ? kRestingLook : kBusyLook;
  r.tell = !told_valid_ || !(seen_ == told_) || now - told_at_ >= kQuiet;
  return r;
}

void telemetry_gate::told(clock::time_point now) {
  told_ = seen_;
  told_valid_ = true;
  told_at_ = now;
}

}  // namespace prfaas::transport

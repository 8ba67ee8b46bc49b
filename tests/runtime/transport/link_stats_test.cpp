// Specification of a node's link telemetry summary: what the router and `prfaas status` read.

#include <catch2/catch.hpp>

#include "runtime/transport/link_stats.h"

using namespace prfaas::transport;

TEST_CASE("the links' delivery rate sums the connections carrying data, an idle one's stale estimate is left out") {
  tcp_snapshot busy;
  busy.delivery_rate_bps = 1'000'000;
  busy.unacked = 3;
  tcp_snapshot waiting = busy;  // nothing unacknowledged, but bytes queued in the socket
  waiting.unacked = 0;
  waiting.notsent_bytes = 4096;
  tcp_snapshot idle;            // its last estimate, from its handshake at line rate
  idle.delivery_rate_bps = 2'000'000'000;
  link_stats a, b;
  a.connections = 2;
  a.tcp = {busy, idle};
  a.bytes_sent = 10;
  b.connections = 1;
  b.tcp = {waiting};
  b.bytes_sent = 5;
  const auto s = summarize({a, b});
  CHECK(s.delivery_rate_bps == 2'000'000);
  CHECK(s.links == 2);
  CHECK(s.connections == 3);
  CHECK(s.bytes_sent == 15);
}

TEST_CASE("a rate meter whose counter starts again reads the bytes since, never a wrapped difference") {
  using namespace std::chrono;
  rate_meter m;
  const auto t0 = steady_clock::now();
  m.update(1'000'000, t0);
  CHECK(m.update(2'000'000, t0 + seconds(1)) == Approx(1e6));
  // The sender restarted: its cumulative count is small again.
  const double after_reset = m.update(500, t0 + seconds(2));
  CHECK(after_reset == Approx(500));
  CHECK(m.update(1'500, t0 + seconds(3)) == Approx(1000));
}

TEST_CASE("telemetry is told when it changes or after the quiet period, looked at often only while KV crosses") {
  using namespace std::chrono;
  telemetry_gate gate;
  const auto t0 = steady_clock::now();
  link_summary s;
  s.links = 1;
  s.worst_rtt_us = 100;
  auto l = gate.look(s, t0);
  CHECK(l.tell);  // nothing told yet
  CHECK(l.next == telemetry_gate::kRestingLook);
  gate.told(t0);
  CHECK_FALSE(gate.look(s, t0 + seconds(1)).tell);  // the same, resting
  s.bytes_sent = 1'000'000;                          // KV crosses
  l = gate.look(s, t0 + seconds(2));
  CHECK(l.tell);
  CHECK(l.egress_gbps == Approx(8e-3));
  CHECK(l.next == telemetry_gate::kBusyLook);
  gate.told(t0 + seconds(2));
  l = gate.look(s, t0 + seconds(3));  // it stopped: the egress falls to 0, which is news
  CHECK(l.tell);
  gate.told(t0 + seconds(3));
  CHECK_FALSE(gate.look(s, t0 + seconds(7)).tell);
  CHECK(gate.look(s, t0 + seconds(8)).tell);  // 5 s since it was told
  gate.forget();                              // a new router
  CHECK(gate.look(s, t0 + seconds(8)).tell);
}

TEST_CASE("while KV waits to be written, the link is measured as the median delivered rate of the backlogged periods in the last 10 s") {
  using namespace std::chrono;
  telemetry_gate gate;
  const auto t0 = steady_clock::now();
  link_summary s;
  s.links = 1;
  s.bytes_in_flight = 4 << 20;  // posted, not yet written
  CHECK(gate.look(s, t0).measured_gbps == 0);  // the first look: no period yet
  // Written fast into the socket buffers, delivered at 1 Gbit/s: the delivery is the measure.
  s.bytes_sent = 500'000'000;
  s.bytes_acked = 125'000'000;
  CHECK(gate.look(s, t0 + seconds(1)).measured_gbps == Approx(1.0));
  s.bytes_acked += 75'000'000;                 // 0.6 Gbit/s
  CHECK(gate.look(s, t0 + seconds(2)).measured_gbps == Approx(1.0));  // median of {1.0, 0.6}: the upper
  s.bytes_acked += 100'000'000;                // 0.8 Gbit/s
  CHECK(gate.look(s, t0 + seconds(3)).measured_gbps == Approx(0.8));  // median of three
  s.bytes_in_flight = 0;                       // drained: the work, not the link, sets the pace
  s.bytes_acked += 10'000'000;
  CHECK(gate.look(s, t0 + seconds(4)).measured_gbps == 0);
  s.bytes_in_flight = 1 << 20;                 // a new backlog: its first period is no measure
  s.bytes_acked += 1'000'000;
  CHECK(gate.look(s, t0 + seconds(5)).measured_gbps == Approx(0.8));
  s.bytes_acked += 50'000'000;                 // 11 s later only the period since is in the window
  CHECK(gate.look(s, t0 + seconds(16)).measured_gbps == Approx(50e6 * 8 / 11 / 1e9));
}

// Connections sized to the path: the bandwidth-delay product over one connection's window,
// within bounds, from a link's own TCP_INFO; a link pool re-makes an idle link that needs more.

#include <catch2/catch.hpp>

#include <chrono>
#include <vector>

#include "runtime/transport/kv_receiver.h"
#include "runtime/transport/kv_sender.h"
#include "runtime/transport/link_pool.h"
#include "runtime/transport/path_sizing.h"

using namespace prfaas;
using namespace prfaas::transport;

TEST_CASE("a link needs the path's bandwidth-delay product over one connection's window, within bounds") {
  // 10 Gbps across 40 ms: 50 MB in flight; 4 MiB a connection: 12 of them.
  const path_estimate wan{0.040, 10e9 / 8};
  CHECK(wan.bdp_bytes() == Approx(50e6));
  CHECK(connections_for(wan, size_t{4} << 20, 4, 16) == 12);
  CHECK(connections_for(wan, size_t{4} << 20, 4, 8) == 8);       // the bound holds
  CHECK(connections_for({0.0001, 1e9}, size_t{4} << 20, 4, 16) == 4);  // a LAN: the minimum
  CHECK(window_per_connection() >= 4096);
}

TEST_CASE("the path comes from the smallest round trip and the larger of capacity and delivery rate") {
  link_stats s;
  CHECK_FALSE(estimate_path(s));  // nothing measured yet
  s.tcp = {tcp_snapshot{40000, 0, 0, 10, 100'000'000, 0}, tcp_snapshot{20000, 0, 0, 10, 50'000'000, 0}};
  auto p = estimate_path(s);
  REQUIRE(p);
  CHECK(p->rtt_s == Approx(0.020));
  CHECK(p->bytes_per_s == Approx(150e6));
  s.capacity_gbps = 8;  // 1 GB/s known: more than the rates delivered so far
  CHECK(estimate_path(s)->bytes_per_s == Approx(1e9));
}

TEST_CASE("a link pool re-makes an idle link whose path needs more connections, up to the bound") {
  std::vector<std::byte> dst(1 << 20), src(1 << 20, std::byte{7});
  kv_receiver rx({"127.0.0.1", 0}, [](const kv_receiver::event&) {}, receiver_options{"s"});
  link_options o;
  o.name = "sizing-test";
  o.secret = "s";
  o.connections = 2;
  o.max_connections = 6;
  o.capacity_gbps = 100;            // a fast path ...
  o.window_per_connection = 1024;   // ... and a tiny window: its product needs the bound
  link_pool pool(make_tcp_carrier(), o, nullptr);
  const std::string peer = "127.0.0.1:" + std::to_string(rx.port());
  auto first = pool.get(peer);
  CHECK(first->connection_count() == 2);
  buffer_transfer source(src.data(), 16, 65536), target(dst.data(), 16, 65536);
  rx.expect(1, target);
  first->send_layer(1, source, 0);
  first->send_done(1, 16, 0);
  first->finish(1, std::chrono::steady_clock::now() + std::chrono::seconds(10));
  const auto stats = pool.snapshot();
  REQUIRE(stats.size() == 1);
  CHECK(stats[0].wanted_connections == 6);
  CHECK(stats[0].bdp_bytes > 0);
  auto second = pool.get(peer);  // idle now: re-made with what the path needs
  CHECK(second != first);
  CHECK(second->connection_count() == 6);
  CHECK(pool.get(peer) == second);  // and kept
}
